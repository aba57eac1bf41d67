// UnsentBudget: one limit on the answers that streams hold for clients that do not read them.
//
// A PredictStream answer is held by the server from the moment its item is admitted until gRPC
// has sent it: while the item is queued or running (counted at an estimate), in the stream's
// outbox, and in the message being written. A client that stops reading (its HTTP/2 window stays
// shut) leaves all of that in the server's memory. max_stream_in_flight bounds one stream and
// max_concurrent_streams the streams of one connection; this bounds the sum over every stream of
// the server.
//
// The rule: while less than half the limit is held, every stream reads its next message. From
// half on, a stream reads only while it holds less than an equal share of that half (limit / 2 /
// streams holding anything), so the streams that hold the most — those whose clients do not read —
// stop, and streams whose clients read keep going (they hold little: their answers leave).
// Nothing is dropped: a paused stream reads again once it holds less, which happens as its client
// reads. A stream that pauses holds more than zero bytes, so it always has an event coming (a
// result, a write completion) that makes it look again: no stream waits for another to wake it.
//
// Bound: the first half is what the streams held when it was crossed; the second, what the streams
// below their share may still take. So at most the limit plus, per stream, the one message it read
// last (<= max_items_per_request items), while the number of streams holding something does not
// drop sharply (a share grows as other streams finish).
//
// Sizes are what the results take in memory (protobuf SpaceUsedLong); items still queued count at
// the mean size of recent results.
//
// Thread-safety: every method may be called from any thread; the counters are atomics, so a
// decision may use a total a few updates old.
//
//   UnsentBudget budget(256 << 20);
//   budget.Change(/*before=*/held, /*after=*/new_held);  // each time a stream's holding changes
//   if (budget.MayRead(new_held)) StartRead(...);
#ifndef EAOS_SERVER_SERVICE_UNSENT_BUDGET_H_
#define EAOS_SERVER_SERVICE_UNSENT_BUDGET_H_

#include <atomic>
#include <cstdint>

namespace eaos::service {

class UnsentBudget {
 public:
  // limit_bytes > 0.
  explicit UnsentBudget(int64_t limit_bytes) : limit_(limit_bytes) {}
  UnsentBudget(const UnsentBudget&) = delete;
  UnsentBudget& operator=(const UnsentBudget&) = delete;

  // One stream's holding went from `before` to `after` bytes (both >= 0).
  void Change(int64_t before, int64_t after);
  // Whether a stream that holds `held` bytes (as last reported with Change) may read more.
  bool MayRead(int64_t held) const;

  // What one queued item is counted at: the running mean of the results recorded here.
  int64_t QueuedItemEstimate() const { return mean_result_.load(std::memory_order_relaxed); }
  // The size of one result that came back; moves the estimate.
  void RecordResultBytes(int64_t bytes);

  int64_t held() const { return held_.load(std::memory_order_relaxed); }
  int64_t holders() const { return holders_.load(std::memory_order_relaxed); }

  // Before any result is seen: about what a demo-model answer with two tuples takes.
  static constexpr int64_t kInitialResultEstimate = 1024;

 private:
  const int64_t limit_;
  std::atomic<int64_t> held_{0};     // bytes, over every stream
  std::atomic<int64_t> holders_{0};  // streams holding more than zero bytes
  std::atomic<int64_t> mean_result_{kInitialResultEstimate};
};

}  // namespace eaos::service

#endif  // EAOS_SERVER_SERVICE_UNSENT_BUDGET_H_
