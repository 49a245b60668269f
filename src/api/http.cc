#include "api/http.h"

#include <algorithm>

#include "api/json_writer.h"
#include "core/strings.h"

namespace warden::api {

bool IsJsonContentType(const HttpRequest& r) {
  const std::string* ct = r.Header("content-type");
  if (ct == nullptr) return false;
  std::string type = ct->substr(0, ct->find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  std::transform(type.begin(), type.end(), type.begin(), ::tolower);
  return type == "application/json";
}

HttpResponse FaultResponse(int status, std::string_view fault, std::string_view message) {
  JsonWriter w;
  w.BeginObject().Key(fault).BeginObject().Key("code").Int(status).Key("message").String(message);
  w.EndObject().EndObject();
  return HttpResponse{.status = status, .body = w.Take()};
}

namespace {

bool Decode(std::string_view in, bool plus_is_space, std::string& out) {
  auto decoded = PercentDecode(in, plus_is_space);
  if (!decoded) return false;
  out = std::move(*decoded);
  return true;
}

}  // namespace

const std::string* HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return &v;
  }
  return nullptr;
}

std::optional<std::string> HttpRequest::Query(std::string_view name) const {
  std::optional<std::string> out;
  for (const auto& [k, v] : query) {
    if (k == name) out = v;
  }
  return out;
}

std::vector<std::string> HttpRequest::QueryAll(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : query) {
    if (k == name) out.push_back(v);
  }
  return out;
}

bool ParseTarget(std::string_view target, HttpRequest& request) {
  if (target.empty() || target[0] != '/') return false;
  size_t q = target.find('?');
  if (!Decode(target.substr(0, q), false, request.path)) return false;
  request.query.clear();
  if (q == std::string_view::npos) return true;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string key, value;
    if (!Decode(part.substr(0, eq), true, key)) return false;
    if (eq != std::string_view::npos && !Decode(part.substr(eq + 1), true, value)) return false;
    request.query.emplace_back(std::move(key), std::move(value));
  }
  return true;
}

}  // namespace warden::api
