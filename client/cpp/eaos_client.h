// C++ client of eaos-serve: unary Predict, GetModelInfo and flow-controlled PredictStream.
//
// Thread-safety: a Client is thread-safe; any number of threads may call any method at once, and
// each call opens its own RPC on the one shared channel. PredictStream* block the calling thread
// until the stream ends; their sinks run on gRPC threads (see PredictStream).
//
//   ClientOptions options;
//   options.target = "eaos.internal:50051";
//   absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
//   absl::StatusOr<std::vector<eaos::v1::ItemResult>> results =
//       (*client)->Predict({MakeItem("1", "pin trâu, giao hàng nhanh")});
#ifndef EAOS_CLIENT_CPP_EAOS_CLIENT_H_
#define EAOS_CLIENT_CPP_EAOS_CLIENT_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "eaos/v1/eaos.grpc.pb.h"
#include "eaos/v1/eaos.pb.h"

namespace eaos::client {

// Transport security. All empty and `enabled` false: plaintext.
struct TlsOptions {
  // Use TLS even without files (the system's root CAs verify the server).
  bool enabled = false;
  std::string ca_file;    // PEM roots that verify the server (default: system roots)
  std::string cert_file;  // PEM client certificate, for servers that require mTLS
  std::string key_file;   // PEM private key of cert_file
  // Name checked against the server certificate instead of the target's host (tests, IPs).
  std::string server_name;

  bool active() const { return enabled || !ca_file.empty() || !cert_file.empty(); }
};

struct ClientOptions {
  // gRPC target: "host:port", "dns:///host:port", "unix:///path", ...
  std::string target = "127.0.0.1:50051";
  // Deadline of each unary call (Predict, GetModelInfo), counted from the call.
  absl::Duration timeout = absl::Seconds(30);
  // Largest response message the channel accepts.
  int max_message_bytes = 64 << 20;
  // When true, calls wait for the channel to become ready (server starting, reconnecting) instead
  // of failing at once with UNAVAILABLE; the deadline still applies.
  bool wait_for_ready = false;
  // How soon the channel tries to connect again after losing its server (gRPC's own backoff,
  // which otherwise grows to 2 minutes): at first after `min`, growing to at most `max`.
  absl::Duration min_reconnect_backoff = absl::Milliseconds(200);
  absl::Duration max_reconnect_backoff = absl::Seconds(5);
  TlsOptions tls;
};

// Fills *item with the next item and returns true, or returns false at the end of the input (it is
// then not called again).
using ItemSource = std::function<bool(eaos::v1::Item* item)>;
// Receives one result; its id is the id of the item it answers.
using ResultSink = std::function<void(eaos::v1::ItemResult result)>;
// Receives one result together with the item (as the source gave it) that it answers.
using ItemResultSink = std::function<void(eaos::v1::Item item, eaos::v1::ItemResult result)>;

// What PredictStreamParallel does about a stream that fails with UNAVAILABLE or
// RESOURCE_EXHAUSTED (server restart or drain, GOAWAY, full queue) and about items the server
// answers with one of those codes: the unanswered and refused items are sent again on a new stream
// after a backoff; every other item is handed to the sink exactly once.
struct RetryPolicy {
  // Off: the first failure ends the call, and refused items go to the sink with their error.
  bool enabled = false;
  // Give up when a stream has gone this long, or this many attempts (0: no limit), without an item
  // answered; any answer starts the count again.
  absl::Duration give_up_after = absl::Minutes(2);
  int max_attempts = 0;
  // Backoff n (from 0) waits a random time in [b/2, b], b = min(initial * multiplier^n, max).
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(8);
  double multiplier = 2.0;
};

// One retry about to happen, for a progress line ("retrying in 2s (UNAVAILABLE: ...)").
struct RetryNotice {
  int stream = 0;       // which of the parallel streams, from 0
  int attempt = 1;      // attempts in a row without progress so far
  absl::Status reason;  // the stream's failure, or the code and message of a refused item
  absl::Duration delay;
  int64_t resend = 0;  // items to be sent again
};
using RetryCallback = std::function<void(const RetryNotice& notice)>;

// Stops PredictStreamParallel from another thread (a signal-handling thread): the calls are
// cancelled, nothing more is read from the source, and the call returns CANCELLED.
//
// Thread-safety: every method may be called from any thread at any time.
//
//   Cancellation cancel;
//   options.cancellation = &cancel;           // then, from another thread: cancel.Cancel();
//   int handle = cancel.Add([&] { other.Cancel(); });  // chain: cancelling one cancels the other
class Cancellation {
 public:
  void Cancel();
  bool cancelled() const;
  // Waits up to `timeout`; returns true as soon as Cancel() was called.
  bool WaitFor(absl::Duration timeout) const;

  // Runs `cancel` now if already cancelled, else once at Cancel(), under this object's lock (so
  // it must be short and must not call back into this object); returns a handle for Remove().
  // Once Remove returns, `cancel` is not running and will not run.
  int Add(std::function<void()> cancel);
  void Remove(int handle);

 private:

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  int next_handle_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, std::function<void()>> callbacks_ ABSL_GUARDED_BY(mu_);
};

struct StreamOptions {
  // Items packed in one PredictStreamRequest (fewer at the end of the input or when the in-flight
  // window is almost full).
  int items_per_message = 32;
  // Items sent but not yet answered, at most. The client stops pulling from the source at this
  // limit and resumes as results arrive.
  int max_in_flight = 256;
  // Sent with every request message of the stream.
  eaos::v1::PredictOptions options;
  // Deadline of the whole stream; InfiniteFuture() means none.
  absl::Time deadline = absl::InfiniteFuture();
  // PredictStreamParallel only: retries, and who hears about each one (on that stream's thread,
  // so possibly concurrently for different streams; it must return quickly).
  RetryPolicy retry;
  RetryCallback on_retry;
  // PredictStreamParallel only: when set, Cancel() on it ends the call (must outlive it).
  Cancellation* cancellation = nullptr;
};

class Client {
 public:
  // Opens an insecure channel to options.target (connecting lazily, on the first call). Fails
  // with INVALID_ARGUMENT on bad options; never contacts the server.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  // Uses `channel` as is (TLS, in-process, custom arguments); options.target and
  // options.max_message_bytes are then ignored.
  static absl::StatusOr<std::unique_ptr<Client>> CreateWithChannel(
      std::shared_ptr<grpc::ChannelInterface> channel, ClientOptions options);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  // One unary Predict call. Returns one result per item, in the order of `items`; a failed item
  // has its `error` set. A failed call (deadline, too many items, bad options, server busy) returns
  // the gRPC status as an absl::Status with the same code and message. No items: no call.
  absl::StatusOr<std::vector<eaos::v1::ItemResult>> Predict(
      const std::vector<eaos::v1::Item>& items, const eaos::v1::PredictOptions& options = {});

  // The server's model and batching limits (unary, with the unary timeout).
  absl::StatusOr<eaos::v1::ModelInfo> GetModelInfo();

  // grpc.health.v1.Health/Check of `service` ("" = the whole server, "eaos.v1.EaosService" =
  // ready to annotate, "liveness" = process up): "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" or
  // "UNKNOWN"; an RPC failure is returned as its status (unary timeout applies).
  absl::StatusOr<std::string> CheckHealth(const std::string& service);

  // Streams every item of `source` through one PredictStream call and hands each result to
  // `sink`, in the order the server answers (not the input order). Blocks until the stream ends.
  //
  // `source` is called on the calling thread only. `sink` is called on gRPC threads, one call at
  // a time (never concurrently with itself), and must return quickly: while it runs, this stream
  // reads nothing. Both must stay valid until PredictStream returns; neither is called after.
  //
  // Item ids need not be unique: on the wire each item carries a per-stream sequence number, and
  // the caller's id is put back into its result.
  //
  // Returns OK once every sent item got exactly one result and the server ended the stream OK;
  // otherwise the stream's status (code and message of the gRPC status), INTERNAL if the server
  // answered an unknown item or one item twice, or DATA_LOSS if it ended the stream OK with items
  // unanswered. Results already given to the sink stay valid on failure.
  absl::Status PredictStream(const ItemSource& source, const ResultSink& sink,
                             const StreamOptions& options = {});

  // As PredictStream, but the sink also receives the item each result answers (e.g. its text).
  absl::Status PredictStreamWithItems(const ItemSource& source, const ItemResultSink& sink,
                                      const StreamOptions& options = {});

  // Runs `num_streams` PredictStream calls at once, all pulling from the one `source`. Calls to
  // `source` are serialized (never concurrent), and so are calls to `sink` across all streams;
  // each stream applies options.max_in_flight on its own. Once the source returns false it is not
  // called again and every stream half-closes.
  //
  // Without options.retry, if one stream fails the others are cancelled and the first failure is
  // returned. With it, a stream that fails with UNAVAILABLE or RESOURCE_EXHAUSTED, or whose server
  // refuses items with one of those codes, stops taking new items, and once it ended its
  // unanswered and refused items are sent again on a new stream after a backoff (options.on_retry
  // hears of each); refused answers never reach the sink, so each item reaches it exactly once.
  // A stream that gives up (see RetryPolicy) fails the call as above, with its last reason.
  // options.cancellation, when set, cancels everything and the call returns CANCELLED.
  absl::Status PredictStreamParallel(int num_streams, const ItemSource& source,
                                     const ItemResultSink& sink, const StreamOptions& options = {});

 private:
  Client(std::shared_ptr<grpc::ChannelInterface> channel, ClientOptions options);

  void PrepareUnaryContext(grpc::ClientContext* context) const;

  const ClientOptions options_;
  const std::shared_ptr<grpc::ChannelInterface> channel_;
  const std::unique_ptr<eaos::v1::EaosService::Stub> stub_;
};

// Convenience: an Item with the given id and text.
eaos::v1::Item MakeItem(std::string id, std::string text);

}  // namespace eaos::client

#endif  // EAOS_CLIENT_CPP_EAOS_CLIENT_H_
