#include "client/cpp/eaos_client.h"

#include <grpcpp/grpcpp.h>

#include <fstream>
#include <iterator>
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
  if (options.max_in_flight < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_in_flight must be at least 1, got ", options.max_in_flight));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.target.empty()) return absl::InvalidArgumentError("target is empty");
  if (absl::Status status = ValidateClientOptions(options); !status.ok()) return status;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
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
  const ItemResultSink drop_item = [&sink](eaos::v1::Item, eaos::v1::ItemResult result) {
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

  // All live until every thread is joined, so Cancel() may reach any of them.
  std::vector<std::unique_ptr<internal::StreamCall>> calls;
  calls.reserve(num_streams);
  for (int i = 0; i < num_streams; ++i) {
    calls.push_back(std::make_unique<internal::StreamCall>(
        stub_.get(), options, options_.wait_for_ready, /*keep_texts=*/true));
  }

  absl::Mutex error_mu;
  absl::Status first_error;  // guarded by error_mu
  auto run_one = [&](int index) {
    absl::Status status = calls[index]->Run(shared_source, shared_sink);
    if (status.ok()) return;
    absl::MutexLock lock(&error_mu);
    if (!first_error.ok()) return;  // a consequence of the first failure (cancelled)
    first_error = std::move(status);
    for (int other = 0; other < num_streams; ++other) {
      if (other != index) calls[other]->Cancel();
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(num_streams - 1);
  for (int i = 1; i < num_streams; ++i) threads.emplace_back(run_one, i);
  run_one(0);
  for (std::thread& thread : threads) thread.join();

  absl::MutexLock lock(&error_mu);
  return first_error;
}

eaos::v1::Item MakeItem(std::string id, std::string text) {
  eaos::v1::Item item;
  item.set_id(std::move(id));
  item.set_text(std::move(text));
  return item;
}

}  // namespace eaos::client
