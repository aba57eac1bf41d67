// Zero-downtime model reload under load, against the real eaos-server: streams and unary calls
// keep running while the model is replaced by SIGHUP (a symlinked --model_dir repointed) and by
// EaosAdmin.ReloadModel; every item must be answered exactly once, without errors, by the model
// version that was serving when it was admitted. A reload that fails leaves the old model serving.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/cpp/eaos_client.h"
#include "eaos/v1/admin.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/integration/server_process.h"

namespace eaos::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const char* const kTexts[] = {
    "Chương trình rất hay", "MC duyên quá, khách mời hơi nhạt", "âm thanh rè, hình ảnh đẹp",
    "thời lượng quá ngắn nhưng kịch bản hấp dẫn", "hôm nay trời mưa"};

// A copy of the demo model directory whose model.json carries `version`.
fs::path CopyModel(const fs::path& root, const std::string& name, const std::string& version) {
  const fs::path dir = root / name;
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(DemoModelDir())) {
    fs::copy_file(entry.path(), dir / entry.path().filename(),
                  fs::copy_options::overwrite_existing);
  }
  std::stringstream json;
  json << std::ifstream(dir / "model.json").rdbuf();
  const std::string patched = std::regex_replace(
      json.str(), std::regex(R"("version"\s*:\s*"[^"]*")"), "\"version\": \"" + version + "\"");
  std::ofstream(dir / "model.json", std::ios::trunc) << patched;
  return dir;
}

// Points `link` at `target` in one step (rename over the old link), as a volume update does.
void Repoint(const fs::path& link, const fs::path& target) {
  const fs::path tmp = link.string() + ".new";
  fs::remove(tmp);
  fs::create_directory_symlink(target, tmp);
  fs::rename(tmp, link);
}

class Reload : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / absl::StrCat("eaos_reload_", getpid());
    fs::remove_all(root_);
    v1_ = CopyModel(root_, "v1", "1.0.0-reload");
    v2_ = CopyModel(root_, "v2", "2.0.0-reload");
    current_ = root_ / "current";
    Repoint(current_, v1_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static grpc::Status ReloadRpc(const std::string& target, const std::string& dir,
                                v1::ReloadModelResponse* response) {
    auto stub = v1::EaosAdmin::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::ReloadModelRequest request;
    request.set_model_dir(dir);
    return stub->ReloadModel(&context, request, response);
  }

  fs::path root_, v1_, v2_, current_;
};

// Counts answers per id and per model version, from any thread.
class Ledger {
 public:
  void Answer(const v1::ItemResult& r) {
    absl::MutexLock lock(&mu_);
    ++answers_[r.id()];
    if (r.has_error()) {
      ++errors_;
      last_error_ = r.error().message();
    } else {
      ++by_version_[r.model_version()];
    }
  }
  int64_t Count(const std::string& version) {
    absl::MutexLock lock(&mu_);
    return by_version_[version];
  }
  // Waits (bounded) until `version` answered at least `n` more items than it had.
  bool WaitFor(const std::string& version, int64_t n, absl::Duration timeout) {
    const int64_t target = Count(version) + n;
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (Count(version) >= target) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }
  void Check(int64_t sent) {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(static_cast<int64_t>(answers_.size()), sent) << "items without an answer";
    for (const auto& [id, n] : answers_) ASSERT_EQ(n, 1) << "item " << id << " answered " << n;
    EXPECT_EQ(errors_, 0) << last_error_;
    int64_t ok = 0;
    for (const auto& [version, n] : by_version_) ok += n;
    EXPECT_EQ(ok, sent);
  }
  std::map<std::string, int64_t> versions() {
    absl::MutexLock lock(&mu_);
    return by_version_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, int> answers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> by_version_ ABSL_GUARDED_BY(mu_);
  int64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
};

TEST_F(Reload, UnderLoadEveryItemIsAnsweredOnceByTheModelThatAdmittedIt) {
  auto server = ServerProcess::Start({"--model_dir=" + current_.string(), "--admin_reload"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string target = (*server)->target();
  client::ClientOptions options;
  options.target = target;
  auto client = client::Client::Create(options);
  ASSERT_TRUE(client.ok());

  Ledger ledger;
  std::atomic<bool> stop{false};
  constexpr int64_t kMaxItems = 200000;  // bound on the load, whatever the timing
  int64_t streamed = 0;                  // touched only by the source (serialized)
  absl::Status stream_status;
  std::thread streams([&] {
    client::StreamOptions so;
    so.max_in_flight = 64;
    so.items_per_message = 8;
    stream_status = (*client)->PredictStreamParallel(
        4,
        [&](v1::Item* item) {
          if (stop.load() || streamed >= kMaxItems) return false;
          item->set_id(absl::StrCat("s", streamed));
          item->set_text(kTexts[streamed % std::size(kTexts)]);
          ++streamed;
          return true;
        },
        [&](v1::Item, v1::ItemResult result) { ledger.Answer(result); }, so);
  });
  std::atomic<int64_t> unary_sent{0};
  absl::Status unary_status;
  std::thread unary([&] {
    for (int call = 0; call < 5000 && !stop.load(); ++call) {
      std::vector<v1::Item> items;
      for (int i = 0; i < 4; ++i) {
        items.push_back(client::MakeItem(absl::StrCat("u", call, "-", i), kTexts[i]));
      }
      auto results = (*client)->Predict(items);
      if (!results.ok()) {
        unary_status = results.status();
        return;
      }
      unary_sent += 4;
      for (const auto& r : *results) ledger.Answer(r);
    }
  });

  ASSERT_TRUE(ledger.WaitFor("1.0.0-reload", 200, absl::Seconds(60)));
  // 1. SIGHUP after the symlinked directory was repointed to v2.
  Repoint(current_, v2_);
  (*server)->Signal(SIGHUP);
  EXPECT_TRUE((*server)->WaitForLog("-> eaos-demo 2.0.0-reload", absl::Seconds(60)));
  EXPECT_TRUE(ledger.WaitFor("2.0.0-reload", 200, absl::Seconds(60)));

  // 2. A directory that cannot be loaded: refused, v2 keeps serving.
  v1::ReloadModelResponse response;
  grpc::Status bad = ReloadRpc(target, (root_ / "absent").string(), &response);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::NOT_FOUND) << bad.error_message();
  EXPECT_THAT(bad.error_message(), HasSubstr("still serving eaos-demo 2.0.0-reload"));
  EXPECT_TRUE(ledger.WaitFor("2.0.0-reload", 200, absl::Seconds(60)));

  // 3. The admin RPC rolls back to v1 by path.
  grpc::Status rolled = ReloadRpc(target, v1_.string(), &response);
  ASSERT_TRUE(rolled.ok()) << rolled.error_message();
  EXPECT_EQ(response.previous().version(), "2.0.0-reload");
  EXPECT_EQ(response.current().version(), "1.0.0-reload");
  EXPECT_EQ(response.model_dir(), v1_.string());
  const int64_t v1_before = ledger.Count("1.0.0-reload");
  EXPECT_TRUE(ledger.WaitFor("1.0.0-reload", 200, absl::Seconds(60)));

  stop = true;
  streams.join();
  unary.join();
  ASSERT_TRUE(stream_status.ok()) << stream_status;
  ASSERT_TRUE(unary_status.ok()) << unary_status;
  ledger.Check(streamed + unary_sent.load());
  const auto versions = ledger.versions();
  EXPECT_GT(ledger.Count("1.0.0-reload"), v1_before);
  EXPECT_EQ(versions.size(), 2u);
  std::cout << "reload under load: " << streamed << " streamed + " << unary_sent.load()
            << " unary items; by version:";
  for (const auto& [v, n] : versions) std::cout << " " << v << "=" << n;
  std::cout << "\n";

  // After the last reload, new requests see v1 only.
  auto info = (*client)->GetModelInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->version(), "1.0.0-reload");
  auto fresh = (*client)->Predict({client::MakeItem("after", kTexts[0])});
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)[0].model_version(), "1.0.0-reload");
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST_F(Reload, AdminRpcIsRefusedUnlessEnabled) {
  auto server = ServerProcess::Start({"--model_dir=" + current_.string()});
  ASSERT_TRUE(server.ok()) << server.status();
  v1::ReloadModelResponse response;
  grpc::Status s = ReloadRpc((*server)->target(), v2_.string(), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("--admin_reload"));
  // SIGHUP still works, and a model that fails its checks is refused with the reason logged.
  std::ofstream(v2_ / "model.json", std::ios::trunc) << "{\"name\": \"broken\"}";
  Repoint(current_, v2_);
  (*server)->Signal(SIGHUP);
  EXPECT_TRUE((*server)->WaitForLog("model reload failed", absl::Seconds(60)));
  EXPECT_THAT((*server)->log(), HasSubstr("still serving eaos-demo 1.0.0-reload"));
  client::ClientOptions options;
  options.target = (*server)->target();
  auto client = client::Client::Create(options);
  auto results = (*client)->Predict({client::MakeItem("x", kTexts[0])});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[0].model_version(), "1.0.0-reload");
  EXPECT_EQ((*server)->Terminate(), 0);
}

// A load cannot be interrupted (LibTorch, calibration), and a base-size model takes minutes on a
// CPU: a stop signal must not wait for one, or Kubernetes kills the pod at the end of its grace.
// --inject_load_delay makes every load that slow.
TEST(StopDuringALoad, SigtermWhileTheModelLoadsExitsAtOnce) {
  auto server = ServerProcess::Start({"--inject_load_delay=300s"}, absl::Seconds(60), "listening on");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);  // the load alone would take 300 s
  EXPECT_THAT((*server)->log(), HasSubstr("stopped before serving; exiting without waiting"));
  EXPECT_THAT((*server)->log(), ::testing::Not(HasSubstr("SERVING")));
}

TEST(StopDuringALoad, SigtermDuringAReloadDrainsAndExitsWithoutWaitingForIt) {
  // Startup waits for the delay too; the reload would then take as long again.
  auto server = ServerProcess::Start({"--inject_load_delay=20s"}, absl::Seconds(120));
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Signal(SIGHUP);
  ASSERT_TRUE((*server)->WaitForLog("received SIGHUP", absl::Seconds(10)));
  // While it reloads, the old model serves.
  client::ClientOptions options;
  options.target = (*server)->target();
  auto client = client::Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto served = (*client)->Predict({client::MakeItem("during", kTexts[0])});
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_FALSE(served->front().has_error());
  (*server)->Signal(SIGHUP);  // a second reload is not queued behind the first
  ASSERT_TRUE((*server)->WaitForLog("not reloading: a reload is already running", absl::Seconds(10)));
  EXPECT_EQ((*server)->Terminate(absl::Seconds(15)), 0);
  EXPECT_THAT((*server)->log(),
              HasSubstr("drained; exiting without waiting for the model reload in progress"));
}

}  // namespace
}  // namespace eaos::testing
