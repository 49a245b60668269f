#include "drivers/fencer.h"

namespace warden::drivers {

std::string_view ToString(PowerState s) {
  switch (s) {
    case PowerState::kOn:
      return "on";
    case PowerState::kOff:
      return "off";
    case PowerState::kUnknown:
      break;
  }
  return "unknown";
}

namespace {

class NoFencer final : public Fencer {
 public:
  bool Covers(const std::string&) const override { return false; }
  void PowerOff(const std::string& host, Callback<void> done) override {
    done(FailedPrecondition("no fencer is configured for host " + host));
  }
  void GetPowerState(const std::string&, Callback<PowerState> done) override {
    done(PowerState::kUnknown);
  }
};

}  // namespace

std::unique_ptr<Fencer> MakeNoFencer() { return std::make_unique<NoFencer>(); }

}  // namespace warden::drivers
