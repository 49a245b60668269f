#include "cli/commands.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/http_client.h"
#include "cli/table.h"
#include "cli/watch.h"
#include "core/uuid.h"

namespace warden::cli {
namespace {

using json = nlohmann::json;

// The flags of one subcommand, by name; `Has` tells whether the user gave it.
struct Flags {
  std::map<std::string, std::string> values;
  std::map<std::string, CLI::Option*> options;
  std::vector<std::string> sort_keys, sort_dirs;

  CLI::Option* Add(CLI::App* app, const std::string& spec, const std::string& key,
                   const std::string& help) {
    auto* o = app->add_option(spec, values[key], help);
    options[key] = o;
    return o;
  }
  bool Has(const std::string& key) const {
    auto it = options.find(key);
    return it != options.end() && it->second->count() > 0;
  }
  const std::string& Get(const std::string& key) const { return values.at(key); }
};

std::string Cell(const json& v) {
  if (v.is_null()) return "None";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::fputs(FormatTable(header, rows).c_str(), stdout);
}

class Client {
 public:
  std::string url = "http://127.0.0.1:15868";
  std::string token;
  std::string format = "table";
  std::string api_version = "1.3";

  // Performs the call; prints the server's error and returns nullopt on failure.
  std::optional<json> Call(const std::string& method, const std::string& path,
                           const std::optional<json>& body = std::nullopt) {
    ClientRequest req;
    req.method = method;
    std::string base = url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    req.url = base + path;
    req.headers.emplace_back("OpenStack-API-Version", "instance-ha " + api_version);
    req.headers.emplace_back("Accept", "application/json");
    if (!token.empty()) req.headers.emplace_back("X-Auth-Token", token);
    if (body) {
      req.headers.emplace_back("Content-Type", "application/json");
      req.body = body->dump();
    }
    auto res = Send(req);
    if (!res) {
      std::fprintf(stderr, "warden: %s\n", res.error().message().c_str());
      return std::nullopt;
    }
    if (res->status >= 400) {
      std::string message = res->body;
      try {
        json err = json::parse(res->body);
        if (err.is_object() && !err.empty()) {
          const json& inner = err.begin().value();
          if (inner.is_object() && inner.contains("message")) message = Cell(inner["message"]);
        }
      } catch (const json::exception&) {
      }
      std::fprintf(stderr, "warden: error %d: %s\n", res->status, message.c_str());
      return std::nullopt;
    }
    if (res->body.empty()) return json();
    try {
      return json::parse(res->body);
    } catch (const json::exception& e) {
      std::fprintf(stderr, "warden: the server's answer is not JSON: %s\n", e.what());
      return std::nullopt;
    }
  }

  int PrintList(const json& items, const std::vector<std::string>& columns) {
    if (format == "json") {
      std::printf("%s\n", items.dump(2).c_str());
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& item : items) {
      std::vector<std::string> row;
      for (const auto& c : columns) row.push_back(item.contains(c) ? Cell(item[c]) : "");
      rows.push_back(std::move(row));
    }
    PrintTable(columns, rows);
    return 0;
  }

  int PrintOne(const json& item) {
    if (format == "json") {
      std::printf("%s\n", item.dump(2).c_str());
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (auto it = item.begin(); it != item.end(); ++it) {
      if (it.key() == "failover_segment") continue;  // shown by its id
      rows.push_back({it.key(), Cell(it.value())});
    }
    PrintTable({"Field", "Value"}, rows);
    return 0;
  }

  // A segment argument may be a UUID or a name.
  std::optional<std::string> SegmentId(const std::string& arg) {
    if (IsUuidLike(arg)) return arg;
    auto list = Call("GET", "/v1/segments");
    if (!list) return std::nullopt;
    for (const auto& s : (*list)["segments"]) {
      if (s["name"] == arg) return s["uuid"].get<std::string>();
    }
    std::fprintf(stderr, "warden: no segment named or with id '%s'\n", arg.c_str());
    return std::nullopt;
  }

  std::optional<std::string> HostId(const std::string& segment, const std::string& arg) {
    if (IsUuidLike(arg)) return arg;
    auto list = Call("GET", "/v1/segments/" + segment + "/hosts");
    if (!list) return std::nullopt;
    for (const auto& h : (*list)["hosts"]) {
      if (h["name"] == arg) return h["uuid"].get<std::string>();
    }
    std::fprintf(stderr, "warden: no host named or with id '%s' in segment %s\n", arg.c_str(),
                 segment.c_str());
    return std::nullopt;
  }

  // (segment uuid, host uuid) of the host named `name` in whichever segment holds it.
  std::optional<std::pair<std::string, std::string>> FindHost(const std::string& name) {
    auto segments = Call("GET", "/v1/segments");
    if (!segments) return std::nullopt;
    std::vector<std::pair<std::string, std::string>> found;
    for (const auto& s : (*segments)["segments"]) {
      const std::string seg = s["uuid"];
      auto hosts = Call("GET", "/v1/segments/" + seg + "/hosts");
      if (!hosts) return std::nullopt;
      for (const auto& h : (*hosts)["hosts"]) {
        if (h["name"] == name || h["uuid"] == name) found.push_back({seg, h["uuid"]});
      }
    }
    if (found.size() == 1) return found[0];
    std::fprintf(stderr,
                 found.empty() ? "warden: no host named or with id '%s' in any segment\n"
                               : "warden: host '%s' is in several segments; name one with "
                                 "--segment\n",
                 name.c_str());
    return std::nullopt;
  }
};

// "?a=1&b=2" from the given flags that were set, plus pagination and sorting.
std::string Query(const Flags& f, const std::vector<std::pair<std::string, std::string>>& map) {
  std::string q;
  auto add = [&](const std::string& k, const std::string& v) {
    q += (q.empty() ? "?" : "&") + k + "=" + UrlEncode(v);
  };
  for (const auto& [flag, param] : map) {
    if (f.Has(flag)) add(param, f.Get(flag));
  }
  if (f.Has("limit")) add("limit", f.Get("limit"));
  if (f.Has("marker")) add("marker", f.Get("marker"));
  for (const auto& k : f.sort_keys) add("sort_key", k);
  for (const auto& d : f.sort_dirs) add("sort_dir", d);
  return q;
}

// Reads "true"/"false" style flags into JSON booleans (the server also accepts strings).
json BoolValue(const std::string& v) {
  std::string l = v;
  std::transform(l.begin(), l.end(), l.begin(), ::tolower);
  if (l == "true" || l == "yes" || l == "1" || l == "on") return true;
  if (l == "false" || l == "no" || l == "0" || l == "off") return false;
  return v;  // let the server explain what is wrong with it
}

// A request body object from the flags that were given: strings as they are, booleans parsed.
json FieldsFrom(const Flags& f, std::initializer_list<const char*> strings,
                std::initializer_list<const char*> booleans) {
  json out = json::object();
  for (const char* k : strings) {
    if (f.Has(k)) out[k] = f.Get(k);
  }
  for (const char* k : booleans) {
    if (f.Has(k)) out[k] = BoolValue(f.Get(k));
  }
  return out;
}

// Seconds given on the command line, as microseconds: a finite number >= 0 (> 0 if positive).
std::optional<MonoMicros> SecondsFlag(const Flags& f, const std::string& key, double fallback,
                                      bool positive) {
  double seconds = fallback;
  if (f.Has(key)) {
    const std::string& text = f.Get(key);
    char* end = nullptr;
    seconds = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size()) seconds = NAN;
  }
  if (!std::isfinite(seconds) || seconds < 0 || (positive && seconds == 0) || seconds > 1e9) {
    std::fprintf(stderr, "warden: --%s must be a number of seconds%s\n", key.c_str(),
                 positive ? " above 0" : ", 0 or more");
    return std::nullopt;
  }
  return MonoMicros(std::llround(seconds * 1e6));
}

// `warden notification watch`: exit 0 finished/ignored, 1 error/failed, 2 otherwise.
int Watch(const Client& client, const Flags& f) {
  auto interval = SecondsFlag(f, "interval", 0.5, /*positive=*/true);
  auto timeout = SecondsFlag(f, "timeout", 0, /*positive=*/false);
  if (!interval || !timeout) return 2;
  // recovery_workflow_details need microversion 1.1 whatever --api-version says.
  Client c = client;
  c.api_version = "1.3";
  const std::string path = "/v1/notifications/" + UrlEncode(f.Get("notification"));
  RealClock clock;
  WatchIo io;
  io.fetch_notification = [&]() -> std::optional<json> {
    auto r = c.Call("GET", path);
    if (!r) return std::nullopt;
    return (*r)["notification"];
  };
  io.fetch_summary = [&] { return c.Call("GET", path + "/vmoves?limit=0"); };
  io.fetch_all_moves = [&]() -> std::optional<json> {
    // Page by page until an empty page: the server may cap each page below any limit asked.
    json all = json::array();
    std::string marker;
    while (true) {
      auto page = c.Call("GET", path + "/vmoves?sort_key=start_time&sort_dir=asc" + marker);
      if (!page) return std::nullopt;
      const json& moves = (*page)["vmoves"];
      if (!moves.is_array() || moves.empty()) return all;
      for (const json& m : moves) all.push_back(m);
      const json& last = moves.back();
      if (!last.is_object() || !last.contains("id")) return all;
      std::string next = "&marker=" + last["id"].dump();
      if (next == marker) return all;  // a server that ignores the marker
      marker = std::move(next);
    }
  };
  io.out = [](const std::string& text) {
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  };
  io.err = [](const std::string& text) { std::fputs(text.c_str(), stderr); };
  io.wait = [&clock](MonoMicros micros) { clock.SleepFor(micros); };
  WatchOptions options{.interval = *interval, .timeout = *timeout};
  options.terminal = isatty(STDOUT_FILENO) == 1;
  winsize size{};
  if (options.terminal && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1) {
    options.columns = size.ws_col - 1;
  }
  try {
    return WatchNotification(io, options, clock);
  } catch (const json::exception& e) {
    std::fprintf(stderr, "warden: unexpected answer from the server: %s\n", e.what());
    return 2;
  }
}

}  // namespace

struct ClientCommands::State {
  Client client;
  std::deque<Flags> flags;
  std::vector<std::pair<CLI::App*, std::function<int()>>> commands;

  Flags& NewFlags(CLI::App* app, bool paged) {
    flags.emplace_back();
    Flags& f = flags.back();
    if (paged) {
      f.Add(app, "--limit", "limit", "Most items to return");
      f.Add(app, "--marker", "marker", "Integer id of the last item of the previous page");
      app->add_option("--sort-key", f.sort_keys, "Sort key (repeatable)");
      app->add_option("--sort-dir", f.sort_dirs, "asc or desc (repeatable)");
    }
    return f;
  }
};

ClientCommands::ClientCommands(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;
  Client& c = s.client;
  if (const char* u = std::getenv("WARDEN_URL")) c.url = u;
  if (const char* t = std::getenv("WARDEN_TOKEN")) c.token = t;
  app.add_option("--url", c.url, "Warden API URL (env WARDEN_URL)");
  app.add_option("--token", c.token, "API token (env WARDEN_TOKEN)");
  app.add_option("-f,--format", c.format, "Output format")->check(CLI::IsMember({"table", "json"}));
  app.add_option("--api-version", c.api_version, "Microversion to request (1.0-1.3)");

  auto on = [&](CLI::App* cmd, std::function<int()> fn) {
    s.commands.emplace_back(cmd, std::move(fn));
  };

  // --- segments ---
  auto* segment = app.add_subcommand("segment", "Failover segments");
  segment->require_subcommand(1);
  {
    auto* cmd = segment->add_subcommand("list", "List segments");
    Flags& f = s.NewFlags(cmd, true);
    f.Add(cmd, "--recovery-method", "recovery_method", "Filter by recovery method");
    f.Add(cmd, "--service-type", "service_type", "Filter by service type");
    f.Add(cmd, "--enabled", "enabled", "Filter by enabled (true/false)");
    on(cmd, [&c, &f] {
      auto r = c.Call("GET", "/v1/segments" + Query(f, {{"recovery_method", "recovery_method"},
                                                        {"service_type", "service_type"},
                                                        {"enabled", "enabled"}}));
      if (!r) return 1;
      return c.PrintList((*r)["segments"], {"id", "uuid", "name", "recovery_method", "service_type",
                                            "enabled", "description"});
    });
  }
  {
    auto* cmd = segment->add_subcommand("show", "Show a segment");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "segment", "segment", "Segment name or UUID")->required();
    on(cmd, [&c, &f] {
      auto id = c.SegmentId(f.Get("segment"));
      if (!id) return 1;
      auto r = c.Call("GET", "/v1/segments/" + *id);
      return r ? c.PrintOne((*r)["segment"]) : 1;
    });
  }
  {
    auto* cmd = segment->add_subcommand("create", "Create a segment");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "name", "name", "Segment name")->required();
    f.Add(cmd, "--recovery-method", "recovery_method",
          "auto, reserved_host, auto_priority or rh_priority")
        ->required();
    f.Add(cmd, "--service-type", "service_type", "Service type (COMPUTE)")->default_val("COMPUTE");
    f.Add(cmd, "--description", "description", "Description");
    f.Add(cmd, "--enabled", "enabled", "true or false");
    on(cmd, [&c, &f] {
      json seg = FieldsFrom(f, {"name", "recovery_method", "description"}, {"enabled"});
      seg["service_type"] = f.Get("service_type");  // has a default
      auto r = c.Call("POST", "/v1/segments", json{{"segment", seg}});
      return r ? c.PrintOne((*r)["segment"]) : 1;
    });
  }
  {
    auto* cmd = segment->add_subcommand("update", "Update a segment");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "segment", "segment", "Segment name or UUID")->required();
    f.Add(cmd, "--name", "name", "New name");
    f.Add(cmd, "--recovery-method", "recovery_method", "New recovery method");
    f.Add(cmd, "--service-type", "service_type", "New service type");
    f.Add(cmd, "--description", "description", "New description");
    f.Add(cmd, "--enabled", "enabled", "true or false");
    on(cmd, [&c, &f] {
      auto id = c.SegmentId(f.Get("segment"));
      if (!id) return 1;
      json seg =
          FieldsFrom(f, {"name", "recovery_method", "service_type", "description"}, {"enabled"});
      auto r = c.Call("PUT", "/v1/segments/" + *id, json{{"segment", seg}});
      return r ? c.PrintOne((*r)["segment"]) : 1;
    });
  }
  {
    auto* cmd = segment->add_subcommand(
        "headroom", "N+1 check: could the rest of the segment take each host's instances now? "
                    "Exit 3 when a host's would not all fit");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "segment", "segment", "Segment name or UUID")->required();
    on(cmd, [&c, &f] {
      auto id = c.SegmentId(f.Get("segment"));
      if (!id) return 1;
      auto r = c.Call("GET", "/v1/segments/" + *id + "/headroom");
      if (!r) return 1;
      const json& h = (*r)["headroom"];
      const int verdict = h.value("ok", false) ? 0 : 3;
      if (c.format == "json") {
        std::printf("%s\n", h.dump(2).c_str());
        return verdict;
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& host : h["hosts"]) {
        std::string fit = "-";
        if (host.value("checked", false)) {
          fit = std::to_string(host.value("placed", 0)) + " of " +
                std::to_string(host.value("instances", 0)) + " (HA " +
                std::to_string(host.value("ha_placed", 0)) + " of " +
                std::to_string(host.value("ha_instances", 0)) + ")";
        }
        std::string why = host.value("shortfall", "");
        const std::string note = host.value("note", "");
        if (!note.empty()) why = why.empty() ? "not a destination: " + note : why + "; not a destination: " + note;
        rows.push_back({host.value("name", ""), host.value("ok", false) ? "ok" : "SHORT", fit, why});
      }
      PrintTable({"Host", "N+1", "Would fit", "Why"}, rows);
      const auto share = [](const json& v) {
        const int64_t total = v.value("total", int64_t{0});
        return total > 0 ? std::to_string(v.value("free", int64_t{0}) * 100 / total) + " %" : "unknown";
      };
      std::printf("Free on the usable hosts: %s of vCPUs, %s of RAM (keep 20-30 %%).\n",
                  share(h["vcpus"]).c_str(), share(h["ram_mb"]).c_str());
      if (!h.value("capacity_known", true)) {
        std::printf("The cloud cannot size its hosts: %s\n", h.value("capacity_error", "").c_str());
      }
      std::printf("%s\n", verdict == 0 ? "Every host's instances would fit elsewhere."
                                        : "Some hosts' instances would not all fit elsewhere.");
      return verdict;
    });
  }
  {
    auto* cmd = segment->add_subcommand("delete", "Delete a segment and its hosts");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "segment", "segment", "Segment name or UUID")->required();
    on(cmd, [&c, &f] {
      auto id = c.SegmentId(f.Get("segment"));
      if (!id) return 1;
      return c.Call("DELETE", "/v1/segments/" + *id) ? 0 : 1;
    });
  }

  // --- hosts ---
  auto* host = app.add_subcommand("host", "Hosts of a failover segment");
  host->require_subcommand(1);
  {
    auto* cmd = host->add_subcommand("list", "List the hosts of a segment");
    Flags& f = s.NewFlags(cmd, true);
    f.Add(cmd, "segment", "segment", "Segment name or UUID")->required();
    f.Add(cmd, "--type", "type", "Filter by type");
    f.Add(cmd, "--on-maintenance", "on_maintenance", "Filter by maintenance (true/false)");
    f.Add(cmd, "--reserved", "reserved", "Filter by reserved (true/false)");
    on(cmd, [&c, &f] {
      auto id = c.SegmentId(f.Get("segment"));
      if (!id) return 1;
      auto r = c.Call("GET", "/v1/segments/" + *id + "/hosts" +
                                 Query(f, {{"type", "type"},
                                           {"on_maintenance", "on_maintenance"},
                                           {"reserved", "reserved"}}));
      if (!r) return 1;
      return c.PrintList((*r)["hosts"], {"id", "uuid", "name", "type", "reserved", "on_maintenance",
                                         "control_attributes"});
    });
  }
  {
    auto* cmd = host->add_subcommand("show", "Show a host");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "segment", "segment", "Segment name or UUID")->required();
    f.Add(cmd, "host", "host", "Host name or UUID")->required();
    on(cmd, [&c, &f] {
      auto seg = c.SegmentId(f.Get("segment"));
      if (!seg) return 1;
      auto id = c.HostId(*seg, f.Get("host"));
      if (!id) return 1;
      auto r = c.Call("GET", "/v1/segments/" + *seg + "/hosts/" + *id);
      return r ? c.PrintOne((*r)["host"]) : 1;
    });
  }
  {
    auto* cmd = host->add_subcommand("create", "Add a host to a segment");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "segment", "segment", "Segment name or UUID")->required();
    f.Add(cmd, "name", "name", "Host name (as Nova knows the compute host)")->required();
    f.Add(cmd, "--type", "type", "Host type")->default_val("COMPUTE");
    f.Add(cmd, "--control-attributes", "control_attributes", "Control attributes")
        ->default_val("SSH");
    f.Add(cmd, "--reserved", "reserved", "true or false");
    f.Add(cmd, "--on-maintenance", "on_maintenance", "true or false");
    on(cmd, [&c, &f] {
      auto seg = c.SegmentId(f.Get("segment"));
      if (!seg) return 1;
      json h = FieldsFrom(f, {"name"}, {"reserved", "on_maintenance"});
      h["type"] = f.Get("type");                              // has a default
      h["control_attributes"] = f.Get("control_attributes");  // has a default
      auto r = c.Call("POST", "/v1/segments/" + *seg + "/hosts", json{{"host", h}});
      return r ? c.PrintOne((*r)["host"]) : 1;
    });
  }
  {
    auto* cmd = host->add_subcommand("update", "Update a host");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "segment", "segment", "Segment name or UUID")->required();
    f.Add(cmd, "host", "host", "Host name or UUID")->required();
    f.Add(cmd, "--name", "name", "New name");
    f.Add(cmd, "--type", "type", "New type");
    f.Add(cmd, "--control-attributes", "control_attributes", "New control attributes");
    f.Add(cmd, "--reserved", "reserved", "true or false");
    f.Add(cmd, "--on-maintenance", "on_maintenance", "true or false");
    on(cmd, [&c, &f] {
      auto seg = c.SegmentId(f.Get("segment"));
      if (!seg) return 1;
      auto id = c.HostId(*seg, f.Get("host"));
      if (!id) return 1;
      json h =
          FieldsFrom(f, {"name", "type", "control_attributes"}, {"reserved", "on_maintenance"});
      auto r = c.Call("PUT", "/v1/segments/" + *seg + "/hosts/" + *id, json{{"host", h}});
      return r ? c.PrintOne((*r)["host"]) : 1;
    });
  }
  {
    auto* cmd = host->add_subcommand("delete", "Remove a host from its segment");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "segment", "segment", "Segment name or UUID")->required();
    f.Add(cmd, "host", "host", "Host name or UUID")->required();
    on(cmd, [&c, &f] {
      auto seg = c.SegmentId(f.Get("segment"));
      if (!seg) return 1;
      auto id = c.HostId(*seg, f.Get("host"));
      if (!id) return 1;
      return c.Call("DELETE", "/v1/segments/" + *seg + "/hosts/" + *id) ? 0 : 1;
    });
  }

  // unfence (alias: enable): a fenced host back in service in one step.
  for (const char* verb : {"unfence", "enable"}) {
    auto* cmd = host->add_subcommand(
        verb, std::string(verb) == "unfence"
                  ? "Return a fenced host to service: enable its compute service, clear "
                    "forced_down and on_maintenance (does not power it on)"
                  : "Same as unfence");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "host", "host", "Host name or UUID")->required();
    f.Add(cmd, "--segment", "segment", "Segment name or UUID (needed only if the name is in "
                                       "several segments)");
    on(cmd, [&c, &f] {
      std::string seg, id;
      if (f.Has("segment")) {
        auto s = c.SegmentId(f.Get("segment"));
        if (!s) return 1;
        auto h = c.HostId(*s, f.Get("host"));
        if (!h) return 1;
        seg = *s, id = *h;
      } else {
        auto found = c.FindHost(f.Get("host"));
        if (!found) return 1;
        seg = found->first, id = found->second;
      }
      auto r = c.Call("POST", "/v1/segments/" + seg + "/hosts/" + id + "/action",
                      json{{"unfence", nullptr}});
      return r ? c.PrintOne((*r)["host"]) : 1;
    });
  }

  // --- notifications ---
  auto* notification = app.add_subcommand("notification", "Failure notifications");
  notification->require_subcommand(1);
  {
    auto* cmd = notification->add_subcommand("list", "List notifications");
    Flags& f = s.NewFlags(cmd, true);
    f.Add(cmd, "--status", "status", "Filter by status (new, running, error, failed, ...)");
    f.Add(cmd, "--type", "type", "Filter by type (COMPUTE_HOST, VM, PROCESS and aliases)");
    f.Add(cmd, "--source-host-uuid", "source_host_uuid", "Filter by source host UUID");
    f.Add(cmd, "--generated-since", "generated_since", "Only notifications generated since");
    on(cmd, [&c, &f] {
      auto r =
          c.Call("GET", "/v1/notifications" + Query(f, {{"status", "status"},
                                                        {"type", "type"},
                                                        {"source_host_uuid", "source_host_uuid"},
                                                        {"generated_since", "generated-since"}}));
      if (!r) return 1;
      return c.PrintList((*r)["notifications"], {"id", "notification_uuid", "type", "status",
                                                 "source_host_uuid", "generated_time", "payload"});
    });
  }
  {
    auto* cmd = notification->add_subcommand("show", "Show a notification");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "notification", "notification", "Notification UUID")->required();
    on(cmd, [&c, &f] {
      auto r = c.Call("GET", "/v1/notifications/" + UrlEncode(f.Get("notification")));
      return r ? c.PrintOne((*r)["notification"]) : 1;
    });
  }
  {
    auto* cmd = notification->add_subcommand("create", "Report a failure");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "--type", "type", "COMPUTE_HOST, VM or PROCESS")->required();
    f.Add(cmd, "--hostname", "hostname", "Host the failure is about")->required();
    f.Add(cmd, "--generated-time", "generated_time", "ISO 8601 time (default: now)");
    f.Add(cmd, "--payload", "payload", "Payload as JSON")->required();
    on(cmd, [&c, &f] {
      json payload;
      try {
        payload = json::parse(f.Get("payload"));
      } catch (const json::exception& e) {
        std::fprintf(stderr, "warden: --payload is not JSON: %s\n", e.what());
        return 2;
      }
      json n = {{"type", f.Get("type")}, {"hostname", f.Get("hostname")}, {"payload", payload}};
      json body;
      if (f.Has("generated_time")) {
        n["generated_time"] = f.Get("generated_time");
        body = json{{"notification", n}};
      } else {
        body = n;  // the flat form: the server stamps the time of receipt
      }
      auto r = c.Call("POST", "/v1/notifications", body);
      return r ? c.PrintOne((*r)["notification"]) : 1;
    });
  }

  // retry / cancel: the Warden extension POST /v1/notifications/{id}/action.
  for (const char* verb : {"retry", "cancel"}) {
    auto* cmd = notification->add_subcommand(
        verb, std::string(verb) == "retry"
                  ? "Run an error or failed notification again from its recorded state"
                  : "Stop a new, running or error notification: it becomes failed");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "notification", "notification", "Notification UUID")->required();
    on(cmd, [&c, &f, verb] {
      auto r = c.Call("POST", "/v1/notifications/" + UrlEncode(f.Get("notification")) + "/action",
                      json{{verb, nullptr}});
      return r ? c.PrintOne((*r)["notification"]) : 1;
    });
  }
  {
    auto* cmd = notification->add_subcommand(
        "watch", "Follow a notification's recovery until it is finished, ignored, error or failed");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "notification", "notification", "Notification UUID")->required();
    f.Add(cmd, "--interval", "interval", "Seconds between polls (default 0.5)");
    f.Add(cmd, "--timeout", "timeout", "Give up after this many seconds (default 0: never)");
    on(cmd, [&c, &f] { return Watch(c, f); });
  }

  // --- vmoves ---
  auto* vmove = app.add_subcommand("vmove", "VM moves of a host recovery");
  vmove->require_subcommand(1);
  {
    auto* cmd = vmove->add_subcommand(
        "list", "List the VM moves of a notification, or of the most recent notifications");
    Flags& f = s.NewFlags(cmd, true);
    f.Add(cmd, "notification", "notification", "Notification UUID (as --notification)");
    f.Add(cmd, "--notification", "notification_flag", "Notification UUID");
    f.Add(cmd, "--notifications", "notifications",
          "Without a notification: how many of the newest notifications (default 50)");
    f.Add(cmd, "--status", "status", "Filter by status (pending, ongoing, succeeded, ...)");
    f.Add(cmd, "--type", "type", "Filter by type");
    f.Add(cmd, "--source-host", "source_host", "Filter by source host");
    f.Add(cmd, "--dest-host", "dest_host", "Filter by destination host");
    on(cmd, [&c, &f] {
      const std::vector<std::pair<std::string, std::string>> filters = {
          {"status", "status"},
          {"type", "type"},
          {"source_host", "source_host"},
          {"dest_host", "dest_host"}};
      std::optional<std::string> id;
      if (f.Has("notification")) id = f.Get("notification");
      if (f.Has("notification_flag")) {
        if (id && *id != f.Get("notification_flag")) {
          std::fprintf(stderr, "warden: two different notifications given\n");
          return 2;
        }
        id = f.Get("notification_flag");
      }
      if (!id) {
        auto with_window = filters;
        with_window.emplace_back("notifications", "notifications");
        auto r = c.Call("GET", "/v1/vmoves" + Query(f, with_window));
        if (!r) return 1;
        return c.PrintList((*r)["vmoves"],
                           {"uuid", "notification_uuid", "instance_name", "source_host",
                            "dest_host", "status", "start_time", "end_time", "message"});
      }
      if (f.Has("notifications")) {
        std::fprintf(stderr, "warden: --notifications applies only without a notification\n");
        return 2;
      }
      auto r = c.Call("GET", "/v1/notifications/" + UrlEncode(*id) + "/vmoves" + Query(f, filters));
      if (!r) return 1;
      if (c.format == "json") return c.PrintOne(*r);
      c.PrintList((*r)["vmoves"], {"uuid", "instance_name", "source_host", "dest_host", "status",
                                   "start_time", "end_time", "message"});
      json& summary = (*r)["summary"];
      if (summary.is_object()) {
        const json& status = summary["notification_status"];
        std::printf("%s (notification %s)\n", MoveSummaryLine(MoveCountsFrom(summary)).c_str(),
                    status.is_string() ? status.get<std::string>().c_str() : "unknown");
      }
      return 0;
    });
  }
  {
    auto* cmd = vmove->add_subcommand("show", "Show a VM move");
    Flags& f = s.NewFlags(cmd, false);
    f.Add(cmd, "notification", "notification", "Notification UUID")->required();
    f.Add(cmd, "vmove", "vmove", "VM move UUID")->required();
    on(cmd, [&c, &f] {
      auto r = c.Call("GET", "/v1/notifications/" + UrlEncode(f.Get("notification")) + "/vmoves/" +
                                 UrlEncode(f.Get("vmove")));
      return r ? c.PrintOne((*r)["vmove"]) : 1;
    });
  }
}

ClientCommands::~ClientCommands() = default;

int ClientCommands::Run() {
  for (auto& [cmd, fn] : state_->commands) {
    if (cmd->parsed()) return fn();
  }
  return 2;
}

}  // namespace warden::cli
