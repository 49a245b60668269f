#include "core/domain.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

TEST(Domain, NotificationTypeAcceptsTheSeedsAliases) {
  EXPECT_EQ(ParseNotificationType("COMPUTE_INSTANCE"), NotificationType::kVm);
  EXPECT_EQ(ParseNotificationType("COMPUTE_PROCESS"), NotificationType::kProcess);
  EXPECT_EQ(ParseNotificationType("COMPUTE_HOST"), NotificationType::kComputeHost);
  EXPECT_EQ(ParseNotificationType("VM"), NotificationType::kVm);
  EXPECT_FALSE(ParseNotificationType("vm").has_value());
  EXPECT_EQ(ToString(NotificationType::kVm), "VM");
}

TEST(Domain, EnumsRoundTrip) {
  for (auto m : {RecoveryMethod::kAuto, RecoveryMethod::kReservedHost,
                 RecoveryMethod::kAutoPriority, RecoveryMethod::kRhPriority}) {
    EXPECT_EQ(ParseRecoveryMethod(ToString(m)), m);
  }
  for (int i = 0; i <= int(NotificationStatus::kFinished); ++i) {
    auto s = NotificationStatus(i);
    EXPECT_EQ(ParseNotificationStatus(ToString(s)), s);
  }
  EXPECT_FALSE(ParseRecoveryMethod("foo").has_value());
}

TEST(Domain, BoolStringsAreStrict) {
  EXPECT_EQ(ParseBoolString("True"), true);
  EXPECT_EQ(ParseBoolString("yes"), true);
  EXPECT_EQ(ParseBoolString("0"), false);
  EXPECT_EQ(ParseBoolString("OFF"), false);
  EXPECT_FALSE(ParseBoolString("maybe").has_value());
  EXPECT_FALSE(ParseBoolString("").has_value());
}

}  // namespace
}  // namespace warden
