#include "client/cpp/eaos_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <tuple>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/cpp/internal/status.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "client/cpp/internal/stream_call.h"

namespace eaos::client {
namespace {

absl::Status ValidateClientOptions(const ClientOptions& options) {
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout must be positive, got ", absl::FormatDuration(options.timeout)));
  }
  if (options.min_reconnect_backoff <= absl::ZeroDuration() ||
      options.max_reconnect_backoff < options.min_reconnect_backoff) {
    return absl::InvalidArgumentError("reconnect backoffs must be positive, min <= max");
  }
  if (options.max_message_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes must be positive, got ", options.max_message_bytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Plaintext, or TLS/mTLS credentials from the PEM files named in `tls`.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFrom(
    const TlsOptions& tls, grpc::ChannelArguments* args) {
  if (!tls.active()) return grpc::InsecureChannelCredentials();
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError("a client certificate needs both cert_file and key_file");
  }
  grpc::SslCredentialsOptions ssl;
  for (auto [path, field, what] : {std::tuple{&tls.ca_file, &ssl.pem_root_certs, "CA file"},
                                   std::tuple{&tls.cert_file, &ssl.pem_cert_chain, "certificate"},
                                   std::tuple{&tls.key_file, &ssl.pem_private_key, "key"}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> pem = ReadPem(*path, what);
    if (!pem.ok()) return pem.status();
    *field = *std::move(pem);
  }
  if (!tls.server_name.empty()) args->SetSslTargetNameOverride(tls.server_name);
  return grpc::SslCredentials(ssl);
}

absl::Status ValidateStreamOptions(const StreamOptions& options) {
  if (options.items_per_message < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("items_per_message must be at least 1, got ", options.items_per_message));
  }
  if (options.retry.enabled &&
      (options.retry.initial_backoff <= absl::ZeroDuration() ||
       options.retry.max_backoff < options.retry.initial_backoff ||
       !(options.retry.multiplier >= 1.0) || options.retry.max_attempts < 0)) {
    return absl::InvalidArgumentError(
        "retry needs 0 < initial_backoff <= max_backoff, multiplier >= 1, max_attempts >= 0");
  }
  if (options.max_in_flight < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_in_flight must be at least 1, got ", options.max_in_flight));
  }
  return absl::OkStatus();
}

bool IsRetryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kResourceExhausted;
}

// The wait before retry number `n` (from 0): random in [b/2, b] (see RetryPolicy).
absl::Duration Backoff(const RetryPolicy& policy, int n, std::mt19937_64& random) {
  const double upper =
      std::min(absl::ToDoubleSeconds(policy.initial_backoff) *
                   std::pow(policy.multiplier, std::min(n, 64)),
               absl::ToDoubleSeconds(policy.max_backoff));
  return absl::Seconds(std::uniform_real_distribution<double>(upper / 2, upper)(random));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.target.empty()) return absl::InvalidArgumentError("target is empty");
  if (absl::Status status = ValidateClientOptions(options); !status.ok()) return status;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  const auto ms = [](absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); };
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, ms(options.min_reconnect_backoff));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, ms(options.min_reconnect_backoff));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, ms(options.max_reconnect_backoff));
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ChannelCredentialsFrom(options.tls, &args);
  if (!credentials.ok()) return credentials.status();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.target, *credentials, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot create a channel to ", options.target));
  }
  return std::unique_ptr<Client>(new Client(std::move(channel), std::move(options)));
}

absl::StatusOr<std::unique_ptr<Client>> Client::CreateWithChannel(
    std::shared_ptr<grpc::ChannelInterface> channel, ClientOptions options) {
  if (channel == nullptr) return absl::InvalidArgumentError("channel is null");
  if (absl::Status status = ValidateClientOptions(options); !status.ok()) return status;
  return std::unique_ptr<Client>(new Client(std::move(channel), std::move(options)));
}

Client::Client(std::shared_ptr<grpc::ChannelInterface> channel, ClientOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(eaos::v1::EaosService::NewStub(channel_)) {}

Client::~Client() = default;

void Client::PrepareUnaryContext(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  context->set_wait_for_ready(options_.wait_for_ready);
}

absl::StatusOr<std::vector<eaos::v1::ItemResult>> Client::Predict(
    const std::vector<eaos::v1::Item>& items, const eaos::v1::PredictOptions& options) {
  if (items.empty()) return std::vector<eaos::v1::ItemResult>();
  eaos::v1::PredictRequest request;
  request.mutable_items()->Reserve(static_cast<int>(items.size()));
  for (const eaos::v1::Item& item : items) *request.add_items() = item;
  *request.mutable_options() = options;

  grpc::ClientContext context;
  PrepareUnaryContext(&context);
  eaos::v1::PredictResponse response;
  const grpc::Status status = stub_->Predict(&context, request, &response);
  if (!status.ok()) return internal::ToAbslStatus(status);
  if (static_cast<size_t>(response.results_size()) != items.size()) {
    return absl::InternalError(absl::StrCat("server returned ", response.results_size(),
                                            " results for ", items.size(), " items"));
  }
  return std::vector<eaos::v1::ItemResult>(
      std::make_move_iterator(response.mutable_results()->begin()),
      std::make_move_iterator(response.mutable_results()->end()));
}

absl::StatusOr<eaos::v1::ModelInfo> Client::GetModelInfo() {
  grpc::ClientContext context;
  PrepareUnaryContext(&context);
  eaos::v1::ModelInfo info;
  const grpc::Status status = stub_->GetModelInfo(&context, eaos::v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return internal::ToAbslStatus(status);
  return info;
}

absl::StatusOr<std::string> Client::CheckHealth(const std::string& service) {
  grpc::ClientContext context;
  PrepareUnaryContext(&context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status =
      grpc::health::v1::Health::NewStub(channel_)->Check(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return std::string("SERVICE_UNKNOWN");
  if (!status.ok()) return internal::ToAbslStatus(status);
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

absl::Status Client::PredictStream(const ItemSource& source, const ResultSink& sink,
                                   const StreamOptions& options) {
  if (absl::Status status = ValidateStreamOptions(options); !status.ok()) return status;
  const ItemResultSink drop_item = [&sink](const eaos::v1::Item&, eaos::v1::ItemResult result) {
    sink(std::move(result));
  };
  internal::StreamCall call(stub_.get(), options, options_.wait_for_ready, /*keep_texts=*/false);
  return call.Run(source, drop_item);
}

absl::Status Client::PredictStreamWithItems(const ItemSource& source, const ItemResultSink& sink,
                                            const StreamOptions& options) {
  if (absl::Status status = ValidateStreamOptions(options); !status.ok()) return status;
  internal::StreamCall call(stub_.get(), options, options_.wait_for_ready, /*keep_texts=*/true);
  return call.Run(source, sink);
}

absl::Status Client::PredictStreamParallel(int num_streams, const ItemSource& source,
                                           const ItemResultSink& sink,
                                           const StreamOptions& options) {
  if (num_streams < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_streams must be at least 1, got ", num_streams));
  }
  if (absl::Status status = ValidateStreamOptions(options); !status.ok()) return status;
  const RetryPolicy& retry = options.retry;

  absl::Mutex source_mu;
  bool exhausted = false;  // guarded by source_mu
  const ItemSource shared_source = [&](eaos::v1::Item* item) {
    absl::MutexLock lock(&source_mu);
    if (exhausted) return false;
    if (!source(item)) exhausted = true;
    return !exhausted;
  };
  absl::Mutex sink_mu;
  const ItemResultSink shared_sink = [&](eaos::v1::Item item, eaos::v1::ItemResult result) {
    absl::MutexLock lock(&sink_mu);
    sink(std::move(item), std::move(result));
  };

  // Cancelled on the first failure or by the caller: cancels every live call, ends every backoff.
  Cancellation stop;
  const int caller_handle = options.cancellation == nullptr
                                ? -1
                                : options.cancellation->Add([&stop] { stop.Cancel(); });
  absl::Mutex error_mu;
  absl::Status first_error;  // guarded by error_mu
  const auto fail = [&](absl::Status status) {
    {
      absl::MutexLock lock(&error_mu);
      if (!first_error.ok()) return;  // a consequence of the first failure
      first_error = std::move(status);
    }
    stop.Cancel();
  };

  // One stream slot: streams one after another until the work is done, it gives up, or `stop`.
  auto run_one = [&](int index) {
    std::deque<eaos::v1::Item> backlog;  // to send before taking new items from the source
    int failures = 0;                    // attempts in a row without an item answered
    absl::Time last_progress = absl::Now();
    std::mt19937_64 random(std::random_device{}() + static_cast<uint64_t>(index));
    while (true) {
      // A refused item: the stream takes no more items, and its work is resent after a backoff.
      std::atomic<bool> stop_taking{false};
      std::atomic<bool> progressed{false};
      std::vector<eaos::v1::Item> refused;  // the sink's (one call at a time); read after Run
      absl::Status refusal;
      const ItemSource call_source = [&](eaos::v1::Item* item) {
        if (stop_taking.load()) return false;
        if (!backlog.empty()) {
          *item = std::move(backlog.front());
          backlog.pop_front();
          return true;
        }
        return shared_source(item);
      };
      const ItemResultSink call_sink = [&](eaos::v1::Item item, eaos::v1::ItemResult result) {
        const auto code = static_cast<absl::StatusCode>(result.error().code());
        if (retry.enabled && result.has_error() && IsRetryable(code)) {
          if (refused.empty()) refusal = absl::Status(code, result.error().message());
          refused.push_back(std::move(item));
          stop_taking.store(true);
          return;
        }
        progressed.store(true);
        shared_sink(std::move(item), std::move(result));
      };
      internal::StreamCall call(stub_.get(), options, options_.wait_for_ready,
                                /*keep_texts=*/true);
      const int handle = stop.Add([&call] { call.Cancel(); });
      const absl::Status status = call.Run(call_source, call_sink);
      stop.Remove(handle);
      if (stop.cancelled()) return;
      if (!retry.enabled || (!status.ok() && !IsRetryable(status.code()))) {
        if (!status.ok()) fail(status);
        return;
      }

      // Sent again first, in the order they were first taken.
      std::vector<eaos::v1::Item> again = call.TakeUnanswered();
      for (eaos::v1::Item& item : refused) again.push_back(std::move(item));
      backlog.insert(backlog.begin(), std::make_move_iterator(again.begin()),
                     std::make_move_iterator(again.end()));
      // OK means the call's source ran dry: the shared one, or this slot stopped taking (and
      // then something was refused, so the backlog is not empty).
      if (status.ok() && backlog.empty()) return;

      const absl::Status reason = status.ok() ? refusal : status;
      const absl::Time now = absl::Now();
      if (progressed.load()) {
        failures = 0;
        last_progress = now;
      }
      ++failures;
      if ((retry.max_attempts > 0 && failures >= retry.max_attempts) ||
          now - last_progress >= retry.give_up_after) {
        fail(absl::Status(reason.code(),
                          absl::StrCat("gave up after ", failures, " attempts in ",
                                       absl::FormatDuration(absl::Trunc(now - last_progress,
                                                                        absl::Milliseconds(100))),
                                       " without an answer (", backlog.size(),
                                       " items unanswered): ", reason.message())));
        return;
      }
      const absl::Duration delay = Backoff(retry, failures - 1, random);
      if (options.on_retry) {
        options.on_retry(RetryNotice{index, failures, reason, delay,
                                     static_cast<int64_t>(backlog.size())});
      }
      if (stop.WaitFor(delay)) return;
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(num_streams - 1);
  for (int i = 1; i < num_streams; ++i) threads.emplace_back(run_one, i);
  run_one(0);
  for (std::thread& thread : threads) thread.join();
  if (options.cancellation != nullptr) options.cancellation->Remove(caller_handle);

  absl::MutexLock lock(&error_mu);
  if (!first_error.ok()) return first_error;
  if (options.cancellation != nullptr && options.cancellation->cancelled()) {
    return absl::CancelledError("cancelled by the caller");
  }
  return absl::OkStatus();
}

void Cancellation::Cancel() {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return;
  cancelled_ = true;
  // Our own short callbacks (TryCancel, another Cancel): run under the lock so that Remove()
  // returning means its callback is not running.
  for (auto& [handle, callback] : callbacks_) callback();
  callbacks_.clear();
}

bool Cancellation::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool Cancellation::WaitFor(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&cancelled_), timeout);
}

int Cancellation::Add(std::function<void()> cancel) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) {
    cancel();
    return -1;
  }
  const int handle = next_handle_++;
  callbacks_.emplace(handle, std::move(cancel));
  return handle;
}

void Cancellation::Remove(int handle) {
  absl::MutexLock lock(&mu_);
  callbacks_.erase(handle);
}

eaos::v1::Item MakeItem(std::string id, std::string text) {
  eaos::v1::Item item;
  item.set_id(std::move(id));
  item.set_text(std::move(text));
  return item;
}

}  // namespace eaos::client
