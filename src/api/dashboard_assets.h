// The dashboard's files (web/dashboard/), built into the binary by cmake/embed_assets.cmake:
// served at /dashboard/ with no file on disk and nothing downloaded at run time.
#pragma once

#include <string_view>
#include <vector>

namespace warden::api {

struct DashboardAsset {
  std::string_view name;          // "app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view bytes;
};

const std::vector<DashboardAsset>& DashboardAssets();

}  // namespace warden::api
