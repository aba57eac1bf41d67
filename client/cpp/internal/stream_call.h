// One PredictStream call on the gRPC callback API, with an in-flight window (Client internals).
//
// The thread that calls Run() is the writer: it pulls items from the source, packs them into
// request messages and starts one write at a time, waiting while the window is full. Reads run on
// gRPC threads at the same time: each response frees window slots and feeds the sink.
//
// Thread-safety: Run() once, from one thread; Cancel() from any thread at any time (before, during
// or after Run) while the object lives. Destroy it only after Run returned: Run waits for gRPC's
// OnDone, so the ClientContext (which holds a channel reference) dies on the caller's thread, never
// on a gRPC thread (dropping the last channel reference there makes gRPC 1.51 join its own thread).
//
//   StreamCall call(stub, options, /*wait_for_ready=*/false, /*keep_texts=*/true);
//   absl::Status status = call.Run(source, sink);
#ifndef EAOS_CLIENT_CPP_INTERNAL_STREAM_CALL_H_
#define EAOS_CLIENT_CPP_INTERNAL_STREAM_CALL_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/cpp/eaos_client.h"
#include "eaos/v1/eaos.grpc.pb.h"

namespace eaos::client::internal {

class StreamCall final : public grpc::ClientBidiReactor<eaos::v1::PredictStreamRequest,
                                                        eaos::v1::PredictStreamResponse> {
 public:
  // `stub` must outlive Run(). `options` must be valid (positive sizes). With keep_texts false,
  // items given to the sink carry their id only (saves a copy of every text).
  StreamCall(eaos::v1::EaosService::StubInterface* stub, const StreamOptions& options,
             bool wait_for_ready, bool keep_texts);

  // Runs the whole stream and returns its outcome (see Client::PredictStream). `source` is called
  // on this thread; `sink` on gRPC threads, one call at a time. Both are referenced, not copied,
  // and are not used after Run returns.
  absl::Status Run(const ItemSource& source, const ItemResultSink& sink);

  // Asks gRPC to cancel the call; Run then returns CANCELLED (unless it already finished).
  void Cancel() { context_.TryCancel(); }

  // After Run returned: the items sent (or taken from the source) that got no result, in the
  // order they were taken, with their texts when keep_texts is set. Empties the table.
  std::vector<eaos::v1::Item> TakeUnanswered();

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  // Writes until the source is exhausted (returns true, after half-closing) or the stream breaks
  // (returns false).
  bool WriteAll(const ItemSource& source);
  bool CanWrite() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status FinalStatus(bool source_exhausted) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  eaos::v1::EaosService::StubInterface* const stub_;
  const StreamOptions options_;
  const bool wait_for_ready_;
  const bool keep_texts_;
  const ItemResultSink* sink_ = nullptr;  // set by Run before the call starts

  grpc::ClientContext context_;
  // Only the writer touches these; gRPC reads request_ while a write is in progress.
  eaos::v1::PredictStreamRequest request_;
  uint64_t next_wire_id_ = 0;
  // Only the read reactions touch this (one read at a time).
  eaos::v1::PredictStreamResponse response_;

  mutable absl::Mutex mu_;
  // Sent (or about to be sent) and unanswered items, by wire id.
  absl::flat_hash_map<uint64_t, eaos::v1::Item> in_flight_ ABSL_GUARDED_BY(mu_);
  int64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  bool write_in_progress_ ABSL_GUARDED_BY(mu_) = false;
  // A read or write failed, or the server ended its side: no more writes.
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  // The server answered an item that was not in flight.
  absl::Status protocol_error_ ABSL_GUARDED_BY(mu_);
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  // Notified at the very end of OnDone; safe to destroy right after WaitForNotification.
  absl::Notification done_;
};

}  // namespace eaos::client::internal

#endif  // EAOS_CLIENT_CPP_INTERNAL_STREAM_CALL_H_
