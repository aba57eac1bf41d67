#include "server/engine/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "server/engine/engine.h"

namespace eaos::engine {
namespace {

using ::testing::HasSubstr;

RequestLimits SmallLimits() {
  RequestLimits limits;
  limits.max_items_per_request = 4;
  limits.max_text_bytes = 100;
  limits.max_id_bytes = 8;
  return limits;
}

v1::Item MakeItem(const std::string& id, const std::string& text) {
  v1::Item item;
  item.set_id(id);
  item.set_text(text);
  return item;
}

// A bare RequestLimits checks what an engine built with default EngineOptions checks: the two
// defaults cannot drift apart.
TEST(Validation, DefaultLimitsAreTheEngineDefaults) {
  const RequestLimits limits;
  const EngineOptions engine;
  EXPECT_EQ(limits.max_items_per_request, engine.max_items_per_request);
  EXPECT_EQ(limits.max_text_bytes, engine.max_text_bytes);
  EXPECT_EQ(limits.max_id_bytes, engine.max_id_bytes);
}

TEST(Validation, RequestItemCountUpToTheLimit) {
  const v1::PredictOptions options;
  EXPECT_TRUE(ValidateRequest(0, options, SmallLimits()).ok());
  EXPECT_TRUE(ValidateRequest(4, options, SmallLimits()).ok());
  const absl::Status over = ValidateRequest(5, options, SmallLimits());
  EXPECT_EQ(over.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(over.message(),
            "request has 5 items; the limit is 4 per call (split it, or use PredictStream)");
}

TEST(Validation, ThresholdMustBeInTheUnitIntervalWhenSet) {
  v1::PredictOptions options;
  EXPECT_TRUE(ValidateRequest(1, options, SmallLimits()).ok());  // unset: the default applies
  for (float ok : {0.0f, 0.5f, 1.0f}) {
    options.set_confidence_threshold(ok);
    EXPECT_TRUE(ValidateRequest(1, options, SmallLimits()).ok()) << ok;
  }
  for (float bad : {-0.01f, 1.01f, std::nanf(""), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    options.set_confidence_threshold(bad);
    const absl::Status s = ValidateRequest(1, options, SmallLimits());
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("confidence_threshold must be in [0, 1], got"));
  }
}

TEST(Validation, ItemCountIsCheckedBeforeTheThreshold) {
  v1::PredictOptions options;
  options.set_confidence_threshold(2.0f);
  EXPECT_THAT(std::string(ValidateRequest(5, options, SmallLimits()).message()),
              HasSubstr("5 items"));
}

TEST(Validation, AcceptsVietnameseTextWithinLimits) {
  EXPECT_TRUE(ValidateItem(MakeItem("a", "Chương trình rất hay!"), SmallLimits()).ok());
  EXPECT_TRUE(ValidateItem(MakeItem("", " x "), SmallLimits()).ok());      // ids may be empty
  EXPECT_TRUE(ValidateItem(MakeItem("12345678", "👍"), SmallLimits()).ok());  // id at the limit
  EXPECT_TRUE(ValidateItem(MakeItem("a", std::string(100, 'a')), SmallLimits()).ok());
}

TEST(Validation, RejectsBadItemsWithReasons) {
  struct Case {
    v1::Item item;
    std::string message;
  };
  const Case cases[] = {
      {MakeItem("123456789", "hay"), "id is 9 bytes; the limit is 8"},
      {MakeItem("a", std::string(101, 'a')),
       "text is 101 bytes; the limit is 100 bytes (split longer documents)"},
      {MakeItem("a", "hay\xE1\xBA"),
       "text is not valid UTF-8 (bad byte sequence at byte offset 3)"},
      {MakeItem("a", ""), "text is empty or only whitespace"},
      {MakeItem("a", " \t\r\n"), "text is empty or only whitespace"},
      {MakeItem("a", "\xC2\xA0\xE3\x80\x80\xE2\x80\x8B"), "text is empty or only whitespace"},
  };
  for (const Case& c : cases) {
    const absl::Status s = ValidateItem(c.item, SmallLimits());
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(s.message(), c.message);
  }
}

TEST(Validation, ItemChecksRunInOrderIdSizeUtf8Blank) {
  // Each item breaks several rules; the first in the documented order is reported.
  EXPECT_THAT(std::string(ValidateItem(MakeItem("123456789", "\xFF"), SmallLimits()).message()),
              HasSubstr("id is 9 bytes"));
  EXPECT_THAT(
      std::string(ValidateItem(MakeItem("a", std::string(101, '\xFF')), SmallLimits()).message()),
      HasSubstr("text is 101 bytes"));
  // Invalid UTF-8 that decodes to whitespace bytes around it is still reported as UTF-8.
  EXPECT_THAT(std::string(ValidateItem(MakeItem("a", " \x80 "), SmallLimits()).message()),
              HasSubstr("byte offset 1"));
}

}  // namespace
}  // namespace eaos::engine
