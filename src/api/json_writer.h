// A small streaming JSON writer for responses.
//
// Responses embed stored JSON (notification payloads, workflow details) verbatim, which a
// DOM library would have to parse and re-serialise for every record of every list; writing
// straight into one string keeps the list endpoints cheap.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warden::api {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);

  JsonWriter& String(std::string_view s);
  JsonWriter& Int(int64_t v);
  JsonWriter& Double(double v);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  // REQUIRES: json is one complete, valid JSON value.
  JsonWriter& Raw(std::string_view json);

  JsonWriter& OptString(const std::optional<std::string>& s) { return s ? String(*s) : Null(); }

  std::string Take() { return std::move(out_); }
  const std::string& str() const { return out_; }

 private:
  void Separate();

  std::string out_;
  bool need_comma_ = false;
};

// Appends s to out as a quoted, escaped JSON string. Bytes that are not well-formed UTF-8
// (text from a request's path or query can be anything) are written as U+FFFD, so the
// output is always valid JSON.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace warden::api
