// Intra-op threads on a CPU, chosen by measured cost.
//
// One runner thread per CPU replica runs each batch's forward on the intra-op pool, while the
// serving threads (gRPC, tokenizing, decoding) need cores of their own. Leaving one core to them
// (usable CPUs - 1 threads) is right when the forward is short (the demo model: ~1 ms per item,
// batches of a few ms that the serving threads keep interrupting); it halves a 2-core machine for
// a base-size model whose forward is ~100-200 ms per item. So after warm-up the engine times a
// small batch of real texts:
//   forward per item at cpus-1 and at cpus threads (best of a few runs), and
//   serving work per item: tokenize + decode, measured, times kServingOverheadFactor for the
//   gRPC work around them and the stalls it causes an all-CPU pool (below).
// and keeps cpus threads only when the estimated throughput gains more than kMinGain:
//   cpus-1 threads: the forward and the serving work run side by side,
//                   items/s = 1 / max(forward(cpus-1), host)
//   cpus threads:   the serving work preempts the forward's team (one late thread stalls it),
//                   items/s = 1 / (forward(cpus) + host)
// --threads=N skips all of this; so does a GPU (its intra-op pool only feeds the device).
//
// Thread-safety: ChooseIntraOpThreads() runs forwards and sets the process's intra-op thread count;
// call it while nothing else runs the model (at load, before the runners start).
#ifndef EAOS_SERVER_ENGINE_THREAD_CHOICE_H_
#define EAOS_SERVER_ENGINE_THREAD_CHOICE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eaos/v1/eaos.pb.h"
#include "server/decode/decoder.h"
#include "server/runtime/model.h"
#include "server/runtime/model_config.h"
#include "server/text/tokenizer.h"

namespace eaos::engine {

// What the serving work costs an all-CPU forward per item, as a multiple of tokenize + decode.
// Not only its own CPU (measured per thread: ~70-90 us per demo item against ~26 us of tokenize +
// decode): each time a serving thread preempts one of the pool's threads, the whole team waits at
// the next barrier, and a short forward is interrupted often. Side by side on 2 cores
// (docs/benchmarks.md, "Intra-op threads on CPU") the demo model at 2 threads made the p99 at 70%
// load 5.8x worse for 28% more throughput, while a base-size model served 1.7-2.5x as much. With
// 20 the demo's predicted gain is 0.75 and the base-size model's 1.98; ~10 to ~1000 would do.
inline constexpr double kServingOverheadFactor = 20.0;
// All cores only for a clear gain: a tie keeps the serving core (and the p99 it protects).
inline constexpr double kMinGain = 1.10;

// The decision from the measured costs (seconds per item); `cpus` >= 1.
int PickIntraOpThreads(int cpus, double host_per_item, double forward_per_item_spare,
                       double forward_per_item_all);

struct ThreadChoiceInputs {
  runtime::Model* model = nullptr;
  const runtime::ModelConfig* config = nullptr;
  const text::Tokenizer* tokenizer = nullptr;
  const decode::Decoder* decoder = nullptr;
  int usable_cpus = 1;
  // Sets the intra-op thread count (runtime::SetIntraOpThreads; tests may count the calls).
  std::function<void(int)> set_threads;
};

// Measures, decides, leaves the chosen count set and reports how (v1::ThreadChoice). With one
// usable CPU there is nothing to measure: 1 thread.
absl::StatusOr<v1::ThreadChoice> ChooseIntraOpThreads(const ThreadChoiceInputs& in);

}  // namespace eaos::engine

#endif  // EAOS_SERVER_ENGINE_THREAD_CHOICE_H_
