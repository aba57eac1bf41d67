#include "server/engine/thread_choice.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace eaos::engine {
namespace {

// Comments of the lengths viewers write (8-40 syllables), with and without diacritics.
constexpr const char* kSampleTexts[] = {
    "Chương trình hôm nay rất hay, MC dẫn duyên dáng và khách mời nói chuyện cuốn hút.",
    "Âm thanh bị rè ở đoạn giữa, hình ảnh thì đẹp nhưng quảng cáo chen vào nhiều quá.",
    "Tap nay hoi dai, kich ban lap lai nhieu nhung giam khao nhan xet rat cong tam.",
    "Xem mãi không chán, mong ekip giữ phong độ như vậy nha!",
    // A long rant, one literal over two lines.
    // NOLINTNEXTLINE(bugprone-suspicious-missing-comma)
    "Thí sinh số ba hát hụt hơi, ban nhạc chơi ổn, sân khấu lung linh, khán giả cổ vũ nhiệt tình "
    "nhưng phần bình chọn thì khó hiểu, chẳng logic gì cả.",
    "Giải thưởng năm nay trao chưa xứng đáng lắm.",
    "MC nói nhiều quá, cắt bớt đi thì hay hơn, còn lại ok.",
    "Không hiểu sao khách mời tuần này nhạt thế, kịch bản cũng không có gì mới.",
};
// Timed forwards per thread count, after one untimed (the pool is rebuilt at a new count): at
// least one, then more until kMinTimed of them or kEnoughTime measured. A base-size model's batch
// takes a second on one core and varies by a few percent; the demo's takes milliseconds.
constexpr int kMinTimed = 3;
constexpr absl::Duration kEnoughTime = absl::Milliseconds(300);
constexpr int kHostRounds = 20;

struct Timed {
  double per_item = 0;  // best forward time over the timed runs, seconds per row
  runtime::ModelOutputs outputs;
};

absl::StatusOr<Timed> TimeForward(runtime::Model& model, const runtime::Batch& batch) {
  Timed timed;
  absl::StatusOr<runtime::ModelOutputs> out = model.Forward(batch);  // untimed
  if (!out.ok()) return out.status();
  double best = std::numeric_limits<double>::infinity();
  absl::Duration spent;
  for (int run = 0; run < kMinTimed && (run == 0 || spent < kEnoughTime); ++run) {
    const absl::Time start = absl::Now();
    out = model.Forward(batch);
    if (!out.ok()) return out.status();
    const absl::Duration took = absl::Now() - start;
    spent += took;
    best = std::min(best, absl::ToDoubleSeconds(took));
  }
  timed.per_item = best / static_cast<double>(batch.rows);
  timed.outputs = *std::move(out);
  return timed;
}

}  // namespace

int PickIntraOpThreads(int cpus, double host_per_item, double forward_per_item_spare,
                       double forward_per_item_all) {
  if (cpus <= 1) return 1;
  const double spare = 1.0 / std::max(forward_per_item_spare, host_per_item);
  const double all = 1.0 / (forward_per_item_all + host_per_item);
  return all > kMinGain * spare ? cpus : cpus - 1;
}

absl::StatusOr<v1::ThreadChoice> ChooseIntraOpThreads(const ThreadChoiceInputs& in) {
  v1::ThreadChoice choice;
  choice.set_source("measured");
  choice.set_usable_cpus(static_cast<uint32_t>(in.usable_cpus));
  if (in.usable_cpus <= 1) {
    in.set_threads(1);
    choice.set_threads(1);
    choice.set_detail("1 usable CPU: 1 thread");
    return choice;
  }
  const absl::Time start = absl::Now();
  std::vector<text::Encoding> encodings;
  for (const char* text : kSampleTexts) {
    absl::StatusOr<text::Encoding> e = runtime::EncodeForModel(*in.config, *in.tokenizer, text);
    if (!e.ok()) return e.status();
    encodings.push_back(*std::move(e));
  }
  std::vector<const std::vector<int64_t>*> rows;
  rows.reserve(encodings.size());
  for (const auto& e : encodings) rows.push_back(&e.ids);
  const runtime::Batch batch = runtime::Batch::Pad(rows, in.config->special_tokens().pad_id());

  in.set_threads(in.usable_cpus - 1);
  absl::StatusOr<Timed> spare = TimeForward(*in.model, batch);
  if (!spare.ok()) return spare.status();
  in.set_threads(in.usable_cpus);
  absl::StatusOr<Timed> all = TimeForward(*in.model, batch);
  if (!all.ok()) return all.status();
  const runtime::ModelOutputs& outputs = all->outputs;

  // The serving work the engine does per item, as Prepare and the runner do it.
  const absl::Time host_start = absl::Now();
  for (int round = 0; round < kHostRounds; ++round) {
    for (size_t i = 0; i < encodings.size(); ++i) {
      absl::StatusOr<text::Encoding> e =
          runtime::EncodeForModel(*in.config, *in.tokenizer, kSampleTexts[i]);
      if (!e.ok()) return e.status();
      in.decoder->Decode(kSampleTexts[i], *e, outputs, static_cast<int64_t>(i), 0.5f);
    }
  }
  const double engine_host = absl::ToDoubleSeconds(absl::Now() - host_start) /
                             static_cast<double>(kHostRounds * encodings.size());
  const double host = engine_host * kServingOverheadFactor;

  const int threads = PickIntraOpThreads(in.usable_cpus, host, spare->per_item, all->per_item);
  in.set_threads(threads);
  choice.set_threads(static_cast<uint32_t>(threads));
  choice.set_host_us_per_item(host * 1e6);
  choice.set_forward_us_per_item_spare(spare->per_item * 1e6);
  choice.set_forward_us_per_item_all(all->per_item * 1e6);
  choice.set_detail(absl::StrFormat(
      "forward %.0f us/item at %d threads, %.0f us/item at %d; serving work ~%.0f us/item "
      "(tokenize+decode %.1f us x %.0f); %s; measured in %s",
      spare->per_item * 1e6, in.usable_cpus - 1, all->per_item * 1e6, in.usable_cpus, host * 1e6,
      engine_host * 1e6, kServingOverheadFactor,
      threads == in.usable_cpus ? "the forward dominates: all cores"
                                : "one core left to serving",
      absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1)))));
  return choice;
}

}  // namespace eaos::engine
