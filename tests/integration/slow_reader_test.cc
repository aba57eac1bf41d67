// Clients that stop reading their answers, against the real eaos-server binary and the demo model:
// hundreds of PredictStream calls over several connections send items and leave their HTTP/2
// windows shut. The server holds their answers up to --max_unsent_bytes (plus one message per
// stream), pauses the streams that hold the most, keeps its RSS flat, and answers every item exactly
// once when the clients read again. docs/reliability.md has the measured numbers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/cpp/answer_ledger.h"
#include "eaos/v1/eaos.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/integration/server_process.h"

namespace eaos::testing {
namespace {

using client::AnswerLedger;

// VmRSS of `pid` in MiB (0 if unreadable).
double RssMiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    double kib = 0;
    if (f.size() >= 2 && absl::SimpleAtod(f[1], &kib)) return kib / 1024;
  }
  return 0;
}

// The value of an unlabelled sample `name` in a Prometheus exposition (-1 if absent).
double Sample(const std::string& exposition, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (!absl::ConsumePrefix(&line, name) || !absl::ConsumePrefix(&line, " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return -1;
}

// One stream: writes `messages` messages made by `make(i, &request)` one after another, reads
// nothing until Resume(), then reads every answer into the ledger.
class StalledStream final
    : public grpc::ClientBidiReactor<v1::PredictStreamRequest, v1::PredictStreamResponse> {
 public:
  using MakeMessage = std::function<void(int, v1::PredictStreamRequest*)>;
  StalledStream(v1::EaosService::Stub* stub, int messages, MakeMessage make, AnswerLedger* ledger)
      : messages_(messages), make_(std::move(make)), ledger_(ledger) {
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(240));
    stub->async()->PredictStream(&context_, this);
    StartCall();
    WriteNext();
  }
  void Resume() { StartRead(&response_); }
  void OnWriteDone(bool ok) override {
    if (ok && written_ < messages_) {
      WriteNext();
    } else {
      StartWritesDone();
    }
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    for (const v1::ItemResult& r : response_.results()) {
      ledger_->Answered(r.id(), r.has_error() ? static_cast<absl::StatusCode>(r.error().code())
                                              : absl::StatusCode::kOk);
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    status_ = status;
    done_.Notify();
  }
  grpc::Status Await() {
    done_.WaitForNotification();
    return status_;
  }

 private:
  void WriteNext() {
    request_.Clear();
    make_(written_++, &request_);
    StartWrite(&request_);
  }

  grpc::ClientContext context_;
  const int messages_;
  const MakeMessage make_;
  int written_ = 0;
  v1::PredictStreamRequest request_;
  v1::PredictStreamResponse response_;
  AnswerLedger* const ledger_;
  grpc::Status status_;
  absl::Notification done_;
};

// Samples a process's RSS every 50 ms until stopped; keeps the peak.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid)
      : pid_(pid), thread_([this] {
          while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(50))) {
            const double rss = RssMiB(pid_);
            absl::MutexLock lock(&mu_);
            peak_ = std::max(peak_, rss);
          }
        }) {}
  ~RssSampler() {
    stop_.Notify();
    thread_.join();
  }
  double peak() {
    absl::MutexLock lock(&mu_);
    return peak_;
  }

 private:
  const pid_t pid_;
  absl::Notification stop_;
  absl::Mutex mu_;
  double peak_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// 256 streams on 4 connections, each sending 2,100 items in 21 messages that nobody reads. Most
// items are blank with a 400-byte id (answered INVALID_ARGUMENT at once, without the model, and
// the answer echoes the id: the cheapest way for a client to make the server hold memory), one in
// a hundred is a real comment. Without a global budget each stream holds its max_stream_in_flight
// (2,048) answers: ~524k answers.
TEST(SlowReaders, HundredsOfStreamsThatStopReadingHoldTheServerToItsBudget) {
  constexpr int64_t kBudgetMiB = 32;
  auto server = ServerProcess::Start({absl::StrCat("--max_unsent_bytes=", kBudgetMiB << 20)});
  ASSERT_TRUE(server.ok()) << server.status();
  const pid_t pid = (*server)->pid();
  constexpr int kConnections = 4;
  constexpr int kStreams = 256;
  constexpr int kMessages = 21;
  constexpr int kItemsPerMessage = 100;

  std::vector<std::unique_ptr<v1::EaosService::Stub>> stubs;
  for (int c = 0; c < kConnections; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("eaos.test.connection", c);  // a connection each
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);  // the windows do not grow while nobody reads
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 10);
    args.SetMaxReceiveMessageSize(-1);
    stubs.push_back(v1::EaosService::NewStub(
        grpc::CreateCustomChannel((*server)->target(), grpc::InsecureChannelCredentials(), args)));
  }
  AnswerLedger ledger;
  std::atomic<int64_t> valid{0};
  const std::string padding(400, 'x');
  const double rss_before = RssMiB(pid);
  RssSampler sampler(pid);
  std::vector<std::unique_ptr<StalledStream>> streams;
  for (int s = 0; s < kStreams; ++s) {
    auto make = [&, s](int m, v1::PredictStreamRequest* request) {
      for (int k = 0; k < kItemsPerMessage; ++k) {
        v1::Item* item = request->add_items();
        item->set_id(absl::StrCat(s, "-", m, "-", k, "-", padding));
        if (k == 0) {
          item->set_text("Chương trình rất hay, MC dễ thương quá");
          ++valid;
        }
        ledger.Sent(item->id());
      }
    };
    streams.push_back(
        std::make_unique<StalledStream>(stubs[s % kConnections].get(), kMessages, make, &ledger));
  }

  // Stalled: until the server's held bytes have not grown for a second (at most 60 s).
  double held = 0, peak_held = 0, paused = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  for (absl::Time grew = absl::Now(); absl::Now() < give_up && absl::Now() - grew < absl::Seconds(1);) {
    absl::SleepFor(absl::Milliseconds(100));
    auto metrics = HttpGet((*server)->metrics_port(), "/metrics");
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    held = Sample(*metrics, "eaos_stream_unsent_bytes");
    paused = std::max(paused, Sample(*metrics, "eaos_streams_paused"));
    if (held > peak_held) {
      peak_held = held;
      grew = absl::Now();
    }
  }
  const double rss_stalled = sampler.peak();

  const absl::Time resumed = absl::Now();
  for (auto& stream : streams) stream->Resume();
  for (auto& stream : streams) {
    const grpc::Status status = stream->Await();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  const absl::Duration drain = absl::Now() - resumed;
  const double rss_peak = sampler.peak();
  const double rss_after = RssMiB(pid);
  std::cout << "| " << kStreams << " streams / " << kConnections << " connections, "
            << kStreams * kMessages * kItemsPerMessage << " items, --max_unsent_bytes="
            << kBudgetMiB << "MiB | held peak " << peak_held / (1 << 20) << " MiB, paused "
            << paused << " | RSS before " << rss_before << " / stalled " << rss_stalled
            << " / peak " << rss_peak << " / after " << rss_after << " MiB | all answered "
            << absl::ToDoubleSeconds(drain) << " s after resuming |\n";

  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_EQ(report.count(absl::StatusCode::kOk), valid.load()) << report.ToString();
  EXPECT_EQ(report.count(absl::StatusCode::kInvalidArgument),
            int64_t{kStreams} * kMessages * kItemsPerMessage - valid.load())
      << report.ToString();
  EXPECT_GT(paused, 0);
  // The budget plus one 100-item message per stream, at well over a blank answer's size.
  EXPECT_LE(peak_held, (kBudgetMiB << 20) + kStreams * kItemsPerMessage * 2048.0);
  // Unbounded, the same run takes the server's RSS up by over a GiB (docs/reliability.md).
  EXPECT_LT(rss_peak - rss_before, 4 * kBudgetMiB + 128)
      << "before " << rss_before << " MiB, peak " << rss_peak << " MiB";

  auto after = HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Sample(*after, "eaos_stream_unsent_bytes"), 0);
  EXPECT_EQ(Sample(*after, "eaos_streams_paused"), 0);
  EXPECT_EQ((*server)->Terminate(), 0);
}

}  // namespace
}  // namespace eaos::testing
