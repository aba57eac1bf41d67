// The parts of observability::Metrics a CPU server never exercises: the GPU memory gauge (set only
// by the CUDA runtime) and SetModelInfo called again (a model reload). The exposition with them
// must still pass `promtool check metrics`.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/observability/metrics.h"

namespace eaos::observability {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Expose(prometheus::Registry& registry) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  return out.str();
}

TEST(MetricsExposition, DeviceMemoryIsAbsentUntilSetThenHasThreeStates) {
  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(registry);
  EXPECT_THAT(Expose(*registry), Not(HasSubstr("eaos_device_memory_bytes{")));
  metrics.SetDeviceMemory(1 << 20, 3 << 20, int64_t{80} << 30);
  metrics.SetDeviceMemory(2 << 20, 4 << 20, int64_t{80} << 30);  // later values replace
  const std::string text = Expose(*registry);
  EXPECT_THAT(text, HasSubstr("eaos_device_memory_bytes{state=\"allocated\"} 2097152\n"));
  EXPECT_THAT(text, HasSubstr("eaos_device_memory_bytes{state=\"reserved\"} 4194304\n"));
  EXPECT_THAT(text, HasSubstr("eaos_device_memory_bytes{state=\"limit\"} 85899345920\n"));
}

TEST(MetricsExposition, ModelInfoKeepsOnlyTheCurrentModel) {
  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(registry);
  metrics.SetModelInfo("eaos-demo", "1.0.0", "cpu");
  metrics.SetModelInfo("eaos-demo", "1.0.0", "cpu");  // same labels: still one series
  metrics.SetModelInfo("eaos-demo", "1.1.0", "cuda:0");
  const std::string text = Expose(*registry);
  EXPECT_THAT(text, HasSubstr(
                        R"(eaos_model_info{device="cuda:0",name="eaos-demo",version="1.1.0"} 1)"));
  EXPECT_THAT(text, Not(HasSubstr(R"(version="1.0.0")")));
}

// During a reload two engines queue side by side: the autoscaler's gauge is their sum, and an
// engine that goes takes its share with it.
TEST(MetricsExposition, QueueGaugeSumsTheEnginesAndForgetsOneThatWent) {
  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(registry);
  auto old_engine = metrics.NewEngineObserver();
  auto new_engine = metrics.NewEngineObserver();
  old_engine->OnQueueDepth(30);
  new_engine->OnQueueDepth(5);
  old_engine->OnQueueDepth(20);  // draining
  EXPECT_THAT(Expose(*registry), HasSubstr("eaos_queue_items 25\n"));
  old_engine->OnQueueDepth(3);
  old_engine.reset();  // drained and destroyed: its last report no longer counts
  EXPECT_THAT(Expose(*registry), HasSubstr("eaos_queue_items 5\n"));
}

TEST(MetricsExposition, FullExpositionPassesPromtool) {
  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(registry);
  metrics.SetModelInfo("eaos-demo", "1.0.0", "cuda:0");
  metrics.SetDeviceMemory(1 << 20, 2 << 20, int64_t{80} << 30);
  metrics.RecordRequest(Method::kPredict, grpc::StatusCode::OK, absl::Milliseconds(3));
  metrics.RecordItem(true, absl::Milliseconds(2));
  auto engine = metrics.NewEngineObserver();
  engine->OnQueueDepth(7);
  engine->OnRejected(2);
  const std::string path = ::testing::TempDir() + "/eaos_metrics_exposition.txt";
  std::ofstream(path) << Expose(*registry);
  const char* promtool = std::getenv("EAOS_PROMTOOL");
  const std::string command = std::string(promtool != nullptr ? promtool : "promtool") +
                              " check metrics < " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[512];
  while (fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << command << "\n" << output;  // 127 (not found) fails too
  EXPECT_EQ(output, "") << "promtool lint findings";
}

}  // namespace
}  // namespace eaos::observability
