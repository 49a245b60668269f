// A blocking HTTP client (libcurl) for the command-line client and the tests.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "net/http_client.h"

namespace warden::cli {

struct ClientResponse {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  long timeout_ms = 30000;
};

// Unavailable when the server cannot be reached; any HTTP status is a successful result.
Result<ClientResponse> Send(const ClientRequest& request);

// Percent-encodes a query-string value.
using net::UrlEncode;  // percent-encoding for query values and path segments

}  // namespace warden::cli
