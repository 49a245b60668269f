// The client's boxed tables, as text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace warden::cli {

// Columns on a terminal: UTF-8 code points (every character is taken to be one column wide).
size_t DisplayWidth(std::string_view text);

// text cut to at most `columns` display columns (never inside a UTF-8 sequence).
std::string FitToWidth(std::string_view text, size_t columns);

// A rule, the header, a rule, one line per row, a rule; every line ends with '\n'.
// REQUIRES: every row has as many cells as the header.
std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

}  // namespace warden::cli
