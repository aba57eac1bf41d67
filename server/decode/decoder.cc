#include "server/decode/decoder.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/status/status.h"
#include "server/text/utf8.h"

namespace eaos::decode {
namespace {

enum class Kind { kEntity, kOpinion };

struct Span {
  Kind kind;
  int64_t first;  // first and last position (inclusive) in the encoding
  int64_t last;
  double prob_sum = 0;  // sum of the chosen tags' probabilities
  uint32_t byte_begin = 0;
  uint32_t byte_end = 0;

  float confidence() const { return static_cast<float>(prob_sum / (last - first + 1)); }
};

// Softmax of `n` logits in float32, written to `out`.
void Softmax(const float* logits, int64_t n, float* out) {
  float max = logits[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, logits[i]);
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = std::exp(logits[i] - max);
    sum += out[i];
  }
  for (int64_t i = 0; i < n; ++i) out[i] /= sum;
}

int64_t ArgMax(const float* values, int64_t n) {
  return std::max_element(values, values + n) - values;
}

// Mean of `logits` rows first..last, softmax, argmax: the label index and its probability.
std::pair<int64_t, float> MeanLabel(const runtime::Logits& logits, int64_t row, int64_t first,
                                    int64_t last) {
  std::vector<float> mean(logits.labels, 0.0f);
  for (int64_t p = first; p <= last; ++p) {
    const float* r = logits.Row(row, p);
    for (int64_t k = 0; k < logits.labels; ++k) mean[k] += r[k];
  }
  const float count = static_cast<float>(last - first + 1);
  for (float& v : mean) v /= count;
  std::vector<float> probs(logits.labels);
  Softmax(mean.data(), logits.labels, probs.data());
  const int64_t best = ArgMax(probs.data(), logits.labels);
  return {best, probs[best]};
}

// Shrinks [begin, end) to exclude leading and trailing whitespace. Returns false when nothing is
// left.
bool TrimWhitespace(absl::string_view text, uint32_t* begin, uint32_t* end) {
  std::optional<uint32_t> first;
  uint32_t last_end = *begin;
  size_t p = *begin;
  while (p < *end) {
    if (const size_t ws = text::WhitespaceLengthAt(text, p); ws > 0) {
      p += ws;
      continue;
    }
    size_t len = 1;
    while (p + len < *end && (static_cast<unsigned char>(text[p + len]) & 0xC0) == 0x80) ++len;
    if (!first) first = static_cast<uint32_t>(p);
    p += len;
    last_end = static_cast<uint32_t>(p);
  }
  if (!first) return false;
  *begin = *first;
  *end = last_end;
  return true;
}

void FillSpan(const std::vector<uint32_t>& cp_index, uint32_t byte_begin, uint32_t byte_end,
              v1::Span* out) {
  out->set_byte_begin(byte_begin);
  out->set_byte_end(byte_end);
  out->set_begin(cp_index[byte_begin]);
  out->set_end(cp_index[byte_end]);
}

}  // namespace

absl::StatusOr<Decoder> Decoder::Create(const runtime::ModelConfig& config) {
  if (auto s = runtime::ValidateModelConfig(config); !s.ok()) return s;
  Decoder d;
  for (int i = 0; i < config.span_labels_size(); ++i) {
    const std::string& label = config.span_labels(i);
    if (label == "O") d.tag_o_ = i;
    if (label == "B-ENT") d.tag_b_ent_ = i;
    if (label == "I-ENT") d.tag_i_ent_ = i;
    if (label == "B-OPI") d.tag_b_opi_ = i;
    if (label == "I-OPI") d.tag_i_opi_ = i;
  }
  d.aspects_.assign(config.aspects().begin(), config.aspects().end());
  d.sentiments_.assign(config.sentiments().begin(), config.sentiments().end());
  return d;
}

std::vector<v1::Tuple> Decoder::Decode(absl::string_view text, const text::Encoding& encoding,
                                       const runtime::ModelOutputs& outputs, int64_t row,
                                       float threshold) const {
  const runtime::Logits& tags = outputs.span;
  const int64_t real_end = static_cast<int64_t>(encoding.size()) - 1;  // EOS position

  // 1-2. Tag each piece and group BIO runs into spans.
  std::vector<Span> spans;
  std::vector<float> probs(tags.labels);
  std::optional<Span> open;
  auto close = [&] {
    if (open) spans.push_back(*open);
    open.reset();
  };
  for (int64_t p = 1; p < real_end; ++p) {
    Softmax(tags.Row(row, p), tags.labels, probs.data());
    const int64_t tag = ArgMax(probs.data(), tags.labels);
    const float prob = probs[tag];
    const bool begin = tag == tag_b_ent_ || tag == tag_b_opi_;
    const bool inside = tag == tag_i_ent_ || tag == tag_i_opi_;
    if (!begin && !inside) {
      close();
      continue;
    }
    const Kind kind = (tag == tag_b_ent_ || tag == tag_i_ent_) ? Kind::kEntity : Kind::kOpinion;
    if (inside && open && open->kind == kind) {
      open->last = p;
      open->prob_sum += prob;
      continue;
    }
    close();
    open = Span{kind, p, p, prob};
  }
  close();

  // Byte ranges, trimmed; spans with nothing but whitespace are dropped.
  std::vector<Span> entities, opinions;
  for (Span& s : spans) {
    s.byte_begin = encoding.begins[s.first];
    s.byte_end = encoding.ends[s.last];
    if (!TrimWhitespace(text, &s.byte_begin, &s.byte_end)) continue;
    (s.kind == Kind::kEntity ? entities : opinions).push_back(s);
  }

  std::vector<v1::Tuple> tuples;
  if (opinions.empty()) return tuples;
  const std::vector<uint32_t> cp_index = text::CodePointIndex(text);
  for (const Span& op : opinions) {
    // 3. Aspect and sentiment from the opinion's mean logits.
    const auto [aspect, aspect_prob] = MeanLabel(outputs.aspect, row, op.first, op.last);
    const auto [sentiment, sentiment_prob] = MeanLabel(outputs.sentiment, row, op.first, op.last);

    // 4. Nearest entity before the opinion, else nearest after it.
    const Span* entity = nullptr;
    for (const Span& e : entities) {
      if (e.last < op.first && (entity == nullptr || e.last > entity->last)) entity = &e;
    }
    if (entity == nullptr) {
      for (const Span& e : entities) {
        if (e.first > op.last && (entity == nullptr || e.first < entity->first)) entity = &e;
      }
    }

    // 5. Confidence and threshold.
    float confidence = std::min({op.confidence(), aspect_prob, sentiment_prob});
    if (entity != nullptr) confidence = std::min(confidence, entity->confidence());
    // Non-finite logits (a broken checkpoint, an fp16 overflow) make probabilities NaN, which
    // std::min passes over unless it comes first and `<` never refuses: such a tuple is dropped
    // like one below the threshold.
    const bool nan = std::isnan(op.confidence()) || std::isnan(aspect_prob) ||
                     std::isnan(sentiment_prob) ||
                     (entity != nullptr && std::isnan(entity->confidence()));
    if (nan || confidence < threshold) continue;

    v1::Tuple& t = tuples.emplace_back();
    t.set_aspect(aspects_[aspect]);
    t.set_sentiment(sentiments_[sentiment]);
    t.set_confidence(confidence);
    t.set_opinion(std::string(text.substr(op.byte_begin, op.byte_end - op.byte_begin)));
    FillSpan(cp_index, op.byte_begin, op.byte_end, t.mutable_opinion_span());
    if (entity != nullptr) {
      t.set_entity(
          std::string(text.substr(entity->byte_begin, entity->byte_end - entity->byte_begin)));
      FillSpan(cp_index, entity->byte_begin, entity->byte_end, t.mutable_entity_span());
    }
  }
  return tuples;
}

}  // namespace eaos::decode
