// The dashboard's files: /dashboard/ is its page, /dashboard/NAME one of its files. Public (the
// page signs in and sends the token with its API calls), answered on the network thread, with
// an ETag per file and the headers that keep a browser strict: a Content-Security-Policy
// without inline script, no sniffing, no framing.
#include <map>
#include <string>
#include <string_view>

#include "api/answers.h"
#include "api/dashboard_assets.h"
#include "api/handlers/handlers.h"
#include "core/digest.h"

namespace warden::api {
namespace {

struct Served {
  const DashboardAsset* asset;
  std::string etag;  // "\"<sha256 of the bytes>\""
};

const std::map<std::string, Served, std::less<>>& ServedAssets() {
  static const auto* served = [] {
    auto* m = new std::map<std::string, Served, std::less<>>();
    for (const DashboardAsset& a : DashboardAssets()) {
      (*m)[std::string(a.name)] = {&a, "\"" + Sha256Hex(std::string(a.bytes)) + "\""};
    }
    return m;
  }();
  return *served;
}

void AddSecurityHeaders(HttpResponse& r) {
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; "
                         "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                         "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
}

std::string EscapeHtml(std::string_view in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// A browser that asked for a page gets a page (with the way back); anything else the API's
// JSON fault.
HttpResponse NotFound(const HttpRequest& request, const std::string& name) {
  const std::string* accept = request.Header("accept");
  if (accept == nullptr || accept->find("text/html") == std::string::npos) {
    return FaultResponse(404, "itemNotFound", "The dashboard has no file " + name + ".");
  }
  return HttpResponse{
      .status = 404,
      .content_type = "text/html; charset=utf-8",
      .body = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
              "<title>Not found - Warden</title>\n"
              "<link rel=\"stylesheet\" href=\"/dashboard/style.css\">\n</head>\n<body>\n"
              "<main>\n<h1>Not found</h1>\n<p>The dashboard has no file <code>" +
              EscapeHtml(name) +
              "</code>.</p>\n<p><a href=\"/dashboard/\">Open the dashboard</a></p>\n</main>\n"
              "</body>\n</html>\n"};
}

}  // namespace

HttpResponse ServeDashboard(ApiContext&, Call& call) {
  const std::string& path = call.request.path;
  if (path == "/dashboard") {  // its files are named relative to /dashboard/
    HttpResponse r{.status = 308, .content_type = "text/plain; charset=utf-8",
                   .body = "The dashboard is at /dashboard/\n"};
    r.headers.emplace_back("Location", "/dashboard/");
    AddSecurityHeaders(r);
    return r;
  }
  std::string name = path.size() > 11 ? path.substr(11) : "";  // after "/dashboard/"
  while (!name.empty() && name.front() == '/') name.erase(0, 1);  // as routing reads "//"
  while (!name.empty() && name.back() == '/') name.pop_back();
  if (name.empty()) name = "index.html";
  const auto& served = ServedAssets();
  auto it = served.find(name);
  if (it == served.end() || name.find('/') != std::string::npos) {
    HttpResponse r = NotFound(call.request, name);
    AddSecurityHeaders(r);
    return r;
  }
  const Served& s = it->second;
  HttpResponse r{.status = 200, .content_type = std::string(s.asset->content_type)};
  if (const std::string* match = call.request.Header("if-none-match"); match && *match == s.etag) {
    r.status = 304;
  } else {
    r.body = std::string(s.asset->bytes);
  }
  r.headers.emplace_back("ETag", s.etag);
  r.headers.emplace_back("Cache-Control", "no-cache");  // always revalidated: one 304 each
  AddSecurityHeaders(r);
  return r;
}

}  // namespace warden::api
