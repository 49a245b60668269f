// Typed configuration keys: how a module declares its part of warden.conf next to the code that
// uses it. A module has a settings struct (its initializers are the defaults) and a list of
// keys, each naming its [section] and key, how its text is checked and stored, and how
// --check-config shows it; [prefix:NAME] sections (custom tasks, AMQP rules, fence devices) are
// declared as a NamedSections family. The server (server/config.cc) composes every module's
// keys, reads the INI file and the WARDEN_<SECTION>_<KEY> environment, and names the key and
// where its value came from in every error.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace warden::config {

template <typename S>
struct Key {
  std::string section;
  std::string name;
  // Stores the value; returns "" or what is wrong with it (the caller names the key).
  std::function<std::string(S&, const std::string&)> set;
  std::function<std::string(const S&)> show;

  // The same key in a struct that holds S at `member` (the server's composed Config).
  template <typename Outer>
  Key<Outer> Within(S Outer::*member) const {
    return {section, name,
            [set = set, member](Outer& o, const std::string& v) { return set(o.*member, v); },
            [show = show, member](const Outer& o) { return show(o.*member); }};
  }
};

template <typename S>
Key<S> Int(std::string section, std::string name, int64_t S::*field, int64_t min, int64_t max) {
  return {std::move(section), std::move(name),
          [=](S& s, const std::string& v) -> std::string {
            int64_t n = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc() || p != v.data() + v.size()) return "'" + v + "' is not an integer";
            if (n < min || n > max) {
              return "'" + v + "' is out of range [" + std::to_string(min) + ", " +
                     std::to_string(max) + "]";
            }
            s.*field = n;
            return "";
          },
          [=](const S& s) { return std::to_string(s.*field); }};
}

template <typename S>
Key<S> Double(std::string section, std::string name, double S::*field, double min, double max) {
  return {std::move(section), std::move(name),
          [=](S& s, const std::string& v) -> std::string {
            double d = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
            if (ec != std::errc() || p != v.data() + v.size()) return "'" + v + "' is not a number";
            if (d < min || d > max) {
              return "'" + v + "' is out of range [" + std::to_string(min) + ", " +
                     std::to_string(max) + "]";
            }
            s.*field = d;
            return "";
          },
          [=](const S& s) { return std::to_string(s.*field); }};
}

template <typename S>
Key<S> Bool(std::string section, std::string name, bool S::*field) {
  return {std::move(section), std::move(name),
          [=](S& s, const std::string& v) -> std::string {
            std::string l = v;
            std::transform(l.begin(), l.end(), l.begin(), ::tolower);
            if (l == "true" || l == "yes" || l == "on" || l == "1") {
              s.*field = true;
            } else if (l == "false" || l == "no" || l == "off" || l == "0") {
              s.*field = false;
            } else {
              return "'" + v + "' is not a boolean (true/false)";
            }
            return "";
          },
          [=](const S& s) { return std::string(s.*field ? "true" : "false"); }};
}

template <typename S>
Key<S> String(std::string section, std::string name, std::string S::*field) {
  return {std::move(section), std::move(name),
          [=](S& s, const std::string& v) -> std::string {
            s.*field = v;
            return "";
          },
          [=](const S& s) { return s.*field; }};
}

// A string --check-config never shows (only whether it is set).
template <typename S>
Key<S> Secret(std::string section, std::string name, std::string S::*field) {
  Key<S> k = String(std::move(section), std::move(name), field);
  k.show = [=](const S& s) { return std::string((s.*field).empty() ? "" : "(set)"); };
  return k;
}

template <typename S>
Key<S> Choice(std::string section, std::string name, std::string S::*field,
              std::vector<std::string> choices) {
  return {std::move(section), std::move(name),
          [=](S& s, const std::string& v) -> std::string {
            if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
              std::string list;
              for (auto& ch : choices) list += (list.empty() ? "" : ", ") + ch;
              return "'" + v + "' is not one of: " + list;
            }
            s.*field = v;
            return "";
          },
          [=](const S& s) { return s.*field; }};
}

// [prefix:NAME] sections, each a name and its keys' text in file order; the module that owns
// them checks the values.
using NamedSections = std::vector<std::pair<std::string, std::map<std::string, std::string>>>;

template <typename S>
struct Family {
  std::string prefix;             // "custom_task" for [custom_task:NAME]
  std::string what;               // "a custom task", for "... needs a plain name"
  std::vector<std::string> keys;  // the keys each section may hold, as listed in errors
  std::function<NamedSections&(S&)> of;
  // More words for an unknown key (say, where credentials go instead); may be null.
  std::function<std::string(const std::string& key)> hint;

  template <typename Outer>
  Family<Outer> Within(S Outer::*member) const {
    return {prefix, what, keys,
            [of = of, member](Outer& o) -> NamedSections& { return of(o.*member); }, hint};
  }
};

}  // namespace warden::config
