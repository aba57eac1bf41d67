// A small in-process EaosService for testing the client only (the real server is tested in
// server/ and tests/). It answers every item with one tuple whose opinion is the item's text, so a
// test can check that each result comes back paired with its own item.
//
// PredictStream reads items on its own thread as fast as they come, and answers once `answer_at`
// are buffered (and at the end), in reverse order, several results per message; it can also hold
// answers back, fail, hang, drop or repeat results.
//
// Thread-safety: the service is thread-safe (gRPC calls it from many threads); stats() may be read
// at any time.
//
//   StreamBehaviour behaviour;
//   behaviour.answer_at = 8;
//   FakeEaosServer server(behaviour);
//   auto client = Client::Create(server.client_options());
#ifndef EAOS_CLIENT_CPP_INTERNAL_FAKE_EAOS_SERVICE_H_
#define EAOS_CLIENT_CPP_INTERNAL_FAKE_EAOS_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cpp/eaos_client.h"
#include "eaos/v1/eaos.grpc.pb.h"

namespace eaos::client::internal {

struct StreamBehaviour {
  int answer_at = 1;            // answer when this many items are buffered
  int results_per_message = 3;  // results packed per response message
  int fail_after_items = -1;    // >= 0: end the stream RESOURCE_EXHAUSTED after that many items
  int fail_stream = -1;         // with fail_after_items: only the n-th stream opened (0-based)
  bool drop_first = false;      // never answer the first item, end OK
  bool answer_first_twice = false;
  // The first this many items received (over all streams) are answered with a per-item
  // RESOURCE_EXHAUSTED "queue full", as a full server queue answers them.
  int refuse_items = 0;
  bool hang = false;  // answer nothing; wait until the client cancels or its deadline passes
  // Once answer_at items are buffered, wait this long before answering (more may arrive).
  absl::Duration hold = absl::ZeroDuration();
};

struct FakeStats {
  int predict_calls = 0;
  int streams = 0;
  int max_outstanding = 0;  // items received but not answered on one stream, at most
  int max_items_per_request = 0;
  int max_results_per_response = 0;
  int64_t items_received = 0;
  int refused = 0;  // items answered RESOURCE_EXHAUSTED (refuse_items)
};

class FakeEaosService final : public eaos::v1::EaosService::Service {
 public:
  explicit FakeEaosService(StreamBehaviour behaviour) : behaviour_(behaviour) {}

  FakeStats stats() const {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

  grpc::Status Predict(grpc::ServerContext*, const eaos::v1::PredictRequest* request,
                       eaos::v1::PredictResponse* response) override {
    {
      absl::MutexLock lock(&mu_);
      ++stats_.predict_calls;
    }
    const eaos::v1::PredictOptions& options = request->options();
    if (options.has_confidence_threshold() &&
        (options.confidence_threshold() < 0 || options.confidence_threshold() > 1)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "confidence_threshold must lie in [0, 1]");
    }
    for (const eaos::v1::Item& item : request->items()) {
      *response->add_results() = Answer(item, options);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetModelInfo(grpc::ServerContext*, const eaos::v1::GetModelInfoRequest*,
                            eaos::v1::ModelInfo* info) override {
    info->set_name("fake-eaos");
    info->set_version("0.0.1");
    info->mutable_limits()->set_max_items_per_request(64);
    return grpc::Status::OK;
  }

  grpc::Status PredictStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<eaos::v1::PredictStreamResponse, eaos::v1::PredictStreamRequest>*
          stream) override {
    int index;
    {
      absl::MutexLock lock(&mu_);
      index = stats_.streams++;
    }
    if (behaviour_.hang) {
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }

    // A reader thread takes items as fast as the client sends them; this thread answers.
    StreamState state;
    std::thread reader([&] { ReadAll(index, stream, &state); });
    bool answered_twice = false;
    bool write_failed = false;
    while (!write_failed) {
      {
        absl::MutexLock lock(&state.mu);
        state.mu.Await(absl::Condition(&state, &StreamState::ReadyToAnswer));
      }
      if (behaviour_.hold > absl::ZeroDuration()) absl::SleepFor(behaviour_.hold);
      std::vector<eaos::v1::ItemResult> batch;
      bool reader_done;
      {
        absl::MutexLock lock(&state.mu);
        batch.swap(state.buffered);
        reader_done = state.reader_done;
        if (state.failed) break;
      }
      std::reverse(batch.begin(), batch.end());
      if (behaviour_.answer_first_twice && !answered_twice && !batch.empty()) {
        batch.push_back(batch.front());
        answered_twice = true;
      }
      for (size_t begin = 0; begin < batch.size() && !write_failed;) {
        const size_t end =
            std::min(batch.size(), begin + static_cast<size_t>(behaviour_.results_per_message));
        eaos::v1::PredictStreamResponse response;
        for (size_t i = begin; i < end; ++i) *response.add_results() = std::move(batch[i]);
        {
          absl::MutexLock lock(&state.mu);
          state.outstanding -= static_cast<int>(end - begin);
        }
        {
          absl::MutexLock lock(&mu_);
          stats_.max_results_per_response =
              std::max(stats_.max_results_per_response, response.results_size());
        }
        write_failed = !stream->Write(response);
        begin = end;
      }
      if (reader_done) break;
    }
    reader.join();  // ends: the client half-closes, the stream breaks, or the reader fails it
    absl::MutexLock lock(&state.mu);
    if (state.failed) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full, retry later");
    }
    if (write_failed) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed");
    return grpc::Status::OK;
  }

 private:
  struct StreamState {
    absl::Mutex mu;
    std::vector<eaos::v1::ItemResult> buffered ABSL_GUARDED_BY(mu);
    int outstanding ABSL_GUARDED_BY(mu) = 0;
    int answer_at ABSL_GUARDED_BY(mu) = 1;
    bool reader_done ABSL_GUARDED_BY(mu) = false;
    bool failed ABSL_GUARDED_BY(mu) = false;

    bool ReadyToAnswer() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return reader_done || buffered.size() >= static_cast<size_t>(answer_at);
    }
  };

  void ReadAll(int index,
               grpc::ServerReaderWriter<eaos::v1::PredictStreamResponse,
                                        eaos::v1::PredictStreamRequest>* stream,
               StreamState* state) {
    {
      absl::MutexLock lock(&state->mu);
      state->answer_at = behaviour_.answer_at;
    }
    int64_t received = 0;
    eaos::v1::PredictStreamRequest request;
    while (stream->Read(&request)) {
      absl::MutexLock lock(&state->mu);
      for (const eaos::v1::Item& item : request.items()) {
        ++received;
        if (behaviour_.drop_first && received == 1) continue;
        bool refuse;
        {
          absl::MutexLock stats_lock(&mu_);
          refuse = stats_.refused < behaviour_.refuse_items;
          if (refuse) ++stats_.refused;
        }
        if (refuse) {
          eaos::v1::ItemResult& refused = state->buffered.emplace_back();
          refused.set_id(item.id());
          refused.mutable_error()->set_code(8);  // RESOURCE_EXHAUSTED
          refused.mutable_error()->set_message("queue full; retry with backoff");
        } else {
          state->buffered.push_back(Answer(item, request.options()));
        }
        ++state->outstanding;
      }
      {
        absl::MutexLock stats_lock(&mu_);
        stats_.items_received += request.items_size();
        stats_.max_outstanding = std::max(stats_.max_outstanding, state->outstanding);
        stats_.max_items_per_request = std::max(stats_.max_items_per_request, request.items_size());
      }
      if (behaviour_.fail_after_items >= 0 && received >= behaviour_.fail_after_items &&
          (behaviour_.fail_stream < 0 || behaviour_.fail_stream == index)) {
        state->failed = true;
        break;
      }
    }
    absl::MutexLock lock(&state->mu);
    state->reader_done = true;
  }

  static eaos::v1::ItemResult Answer(const eaos::v1::Item& item,
                                     const eaos::v1::PredictOptions& options) {
    eaos::v1::ItemResult result;
    result.set_id(item.id());
    if (item.text() == "bad") {
      result.mutable_error()->set_code(3);
      result.mutable_error()->set_message("bad text");
      return result;
    }
    eaos::v1::Tuple* tuple = result.add_tuples();
    tuple->set_opinion(item.text());
    tuple->set_confidence(options.has_confidence_threshold() ? options.confidence_threshold()
                                                             : 0.5f);
    return result;
  }

  const StreamBehaviour behaviour_;
  mutable absl::Mutex mu_;
  FakeStats stats_ ABSL_GUARDED_BY(mu_);
};

// The fake service listening on 127.0.0.1 at a free port.
class FakeEaosServer {
 public:
  explicit FakeEaosServer(StreamBehaviour behaviour = {}) : service_(behaviour) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeEaosServer() {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    }
  }

  bool ok() const { return server_ != nullptr && port_ > 0; }
  FakeStats stats() const { return service_.stats(); }
  ClientOptions client_options() const {
    ClientOptions options;
    options.target = absl::StrCat("127.0.0.1:", port_);
    options.timeout = absl::Seconds(10);
    return options;
  }

 private:
  FakeEaosService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace eaos::client::internal

#endif  // EAOS_CLIENT_CPP_INTERNAL_FAKE_EAOS_SERVICE_H_
