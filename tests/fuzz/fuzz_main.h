// What the fuzz programs under tests/fuzz share: a mutator of byte strings in the manner of
// libFuzzer's default mutators (no coverage feedback: deterministic for a seed, quick, and
// built by g++ with the project), and the command line every one of them takes:
//
//   PROGRAM FILE...                          replays saved inputs (a failure's reproducer)
//   PROGRAM [--iterations N] [--seconds S] [--seed X] [--save DIR]
//                                            mutates the program's seed inputs, N inputs or
//                                            S seconds, whichever ends first
//
// A failing input is written to --save DIR (default: the current directory) and the
// program exits 1 naming the rule it broke and the file; 2 is a usage or set-up error.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace warden::fuzz {

[[noreturn]] inline void Die(const std::string& program, const std::string& why) {
  std::cerr << program << ": " << why << "\n";
  std::exit(2);
}

class Mutator {
 public:
  static constexpr size_t kMaxSize = 64 << 10;

  // dictionary: tokens spliced in (field names, keywords, edge values).
  Mutator(uint64_t seed, std::span<const char* const> dictionary)
      : rng_(seed), dictionary_(dictionary) {}

  uint64_t Below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }

  // One to four edits of s; a splice takes its tail from one of `corpus`.
  void EditSome(std::string& s, const std::vector<std::string>& corpus) {
    int edits = 1 + int(Below(4));
    for (int i = 0; i < edits; ++i) Edit(s, corpus);
    if (s.size() > kMaxSize) s.resize(kMaxSize);
  }

 private:
  const char* Token() { return dictionary_[Below(dictionary_.size())]; }

  void Edit(std::string& s, const std::vector<std::string>& corpus) {
    const size_t at = Below(s.size() + 1);
    switch (Below(8)) {
      case 0:  // flip a bit
        if (!s.empty()) s[Below(s.size())] ^= char(1u << Below(8));
        break;
      case 1: {  // a byte that matters to parsers
        static const char kBytes[] = {'\0', '\xff', '"',    '{',    '}',  '[', ']', ',',
                                      ':',  '\\',   '\xc3', '\x80', '\n', ' ', '0', '9',
                                      '-',  '.',    'e',    '%',    '=',  '#', ';', '\r'};
        if (!s.empty()) s[Below(s.size())] = kBytes[Below(sizeof kBytes)];
        break;
      }
      case 2:
      case 3:  // a dictionary token
        s.insert(at, Token());
        break;
      case 4: {  // a dictionary token in place of a run of bytes
        size_t n = std::min<size_t>(s.size() - at, 1 + Below(12));
        s.replace(at, n, Token());
        break;
      }
      case 5:  // delete a run
        if (at < s.size()) s.erase(at, 1 + Below(std::min<size_t>(s.size() - at, 32)));
        break;
      case 6:  // repeat a run, sometimes many times (deep nesting, long strings)
        if (at < s.size()) {
          std::string run = s.substr(at, 1 + Below(std::min<size_t>(s.size() - at, 16)));
          size_t times = Below(4) == 0 ? 1 + Below(5000) : 1 + Below(3);
          std::string many;
          for (size_t i = 0; i < times && many.size() < kMaxSize; ++i) many += run;
          s.insert(at, many);
        }
        break;
      case 7: {  // splice: this input's head, another's tail
        const std::string& other = corpus[Below(corpus.size())];
        s = s.substr(0, at) + other.substr(Below(other.size() + 1));
        break;
      }
    }
  }

  std::mt19937_64 rng_;
  std::span<const char* const> dictionary_;
};

// What a program's check of one input says: the rule it broke, if any, and whether the input
// got far enough to be worth mutating further (kept in the working corpus).
struct Verdict {
  std::optional<std::string> failure;
  bool interesting = true;
};

struct FuzzTarget {
  std::string name;                // the program's name, for messages
  std::vector<std::string> seeds;  // valid and nearly valid inputs
  std::span<const char* const> dictionary;
  std::function<Verdict(const std::string&)> check;
  // Makes a mutant of `base`; null: Mutator::EditSome on the whole input.
  std::function<std::string(const std::string& base, Mutator&, const std::vector<std::string>&)>
      mutate;
  std::function<std::string()> summary;  // appended to the closing line; may be null
};

inline int FuzzMain(int argc, char** argv, FuzzTarget target) {
  const std::string& name = target.name;
  int64_t iterations = 20000;
  double seconds = 60;
  uint64_t seed = 1;
  std::string save = ".";
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(name, a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--iterations") {
        iterations = std::stoll(value());
      } else if (a == "--seconds") {
        seconds = std::stod(value());
      } else if (a == "--seed") {
        seed = std::stoull(value());
      } else if (a == "--save") {
        save = value();
      } else if (a.starts_with("--")) {
        Die(name, "unknown option " + a);
      } else {
        files.push_back(a);
      }
    } catch (const std::logic_error&) {
      Die(name, "bad value for " + a);
    }
  }

  auto fail = [&](const std::string& input, const std::string& what) {
    std::filesystem::path out =
        std::filesystem::path(save) / (name + "-failure-" + std::to_string(getpid()));
    std::ofstream(out, std::ios::binary) << input;
    std::cerr << name << ": " << what << "\n  input saved to " << out.string()
              << " (replay: " << name << " " << out.string() << ")\n";
    return 1;
  };
  auto check = [&](const std::string& input) -> Verdict {
    try {
      return target.check(input);
    } catch (const std::exception& e) {
      return {.failure = std::string("exception escaped: ") + e.what()};
    }
  };
  auto closing = [&] { return target.summary ? " (" + target.summary() + ")" : std::string(); };

  if (!files.empty()) {
    for (const auto& path : files) {
      std::ifstream in(path, std::ios::binary);
      if (!in) Die(name, "cannot read " + path);
      std::ostringstream text;
      text << in.rdbuf();
      if (auto v = check(text.str()); v.failure) return fail(text.str(), *v.failure);
    }
    std::cout << name << ": " << files.size() << " inputs replayed, every one as required"
              << closing() << "\n";
    return 0;
  }

  std::vector<std::string> corpus = target.seeds;
  for (const auto& input : target.seeds) {
    if (auto v = check(input); v.failure) return fail(input, *v.failure);
  }
  Mutator mutator(seed, target.dictionary);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int64_t done = 0;
  for (; done < iterations && std::chrono::steady_clock::now() < deadline; ++done) {
    // Mostly from a seed or an earlier mutant that got far; mutants go on mutating.
    const std::string& base = corpus[mutator.Below(corpus.size())];
    std::string input = base;
    if (target.mutate) {
      input = target.mutate(base, mutator, corpus);
    } else {
      mutator.EditSome(input, corpus);
    }
    Verdict v = check(input);
    if (v.failure) return fail(input, *v.failure);
    if (v.interesting && mutator.Below(16) == 0 && corpus.size() < 4096 && input.size() < 4096) {
      corpus.push_back(std::move(input));
    }
  }
  std::cout << name << ": seed " << seed << ", " << done << " mutated inputs, every one as "
            << "required" << closing() << "\n";
  return 0;
}

}  // namespace warden::fuzz
