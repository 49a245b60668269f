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

}  // namespace warden::drivers
