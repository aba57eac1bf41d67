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
  int64_t first;  // first and last word (inclusive), indices into PieceWords()
  int64_t last;
  double prob_sum = 0;  // sum of the words' tag probabilities (their first pieces' tags)
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

// Byte length of the punctuation character that starts at text[pos], or 0: ASCII punctuation
// and U+2026, U+201C, U+201D, U+2018, U+2019, U+2013, U+2014, U+00AB, U+00BB
// (docs/model-contract.md, "Whole-word spans").
size_t PunctuationLengthAt(absl::string_view text, size_t pos) {
  static constexpr absl::string_view kAscii = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  static constexpr absl::string_view kUnicode[] = {"\u2026", "\u201c", "\u201d", "\u2018", "\u2019",
                                                   "\u2013", "\u2014", "\u00ab", "\u00bb"};
  if (kAscii.find(text[pos]) != absl::string_view::npos) return 1;
  const absl::string_view rest = text.substr(pos);
  for (absl::string_view p : kUnicode) {
    if (rest.substr(0, p.size()) == p) return p.size();
  }
  return 0;
}

size_t EdgeLengthAt(absl::string_view text, size_t pos) {
  if (const size_t n = PunctuationLengthAt(text, pos); n > 0) return n;
  return text::WhitespaceLengthAt(text, pos);
}

// Shrinks [begin, end) to exclude leading and trailing punctuation and whitespace, walking whole
// UTF-8 characters.
void TrimEdges(absl::string_view text, uint32_t* begin, uint32_t* end) {
  while (*begin < *end) {
    const size_t n = EdgeLengthAt(text, *begin);
    if (n == 0 || *begin + n > *end) break;
    *begin += static_cast<uint32_t>(n);
  }
  while (*begin < *end) {
    uint32_t c = *end - 1;
    while (c > *begin && (static_cast<unsigned char>(text[c]) & 0xC0) == 0x80) --c;
    const size_t n = EdgeLengthAt(text, c);
    if (n == 0 || c + n != *end) break;
    *end = c;
  }
}

// A whitespace-delimited word that at least one piece overlaps, with its first and last
// overlapping positions in the encoding.
struct Word {
  uint32_t begin;
  uint32_t end;
  int64_t first = -1;
  int64_t last = -1;
};

// The words of `text` (maximal runs of non-whitespace), each with the positions 1..real_end-1
// whose byte range [b, e) overlaps it (b < word end and word begin < e); words no piece overlaps
// are left out.
std::vector<Word> PieceWords(absl::string_view text, const text::Encoding& encoding,
                             int64_t real_end) {
  std::vector<Word> words;
  size_t p = 0;
  std::optional<size_t> start;
  while (p < text.size()) {
    if (const size_t ws = text::WhitespaceLengthAt(text, p); ws > 0) {
      if (start) words.push_back({static_cast<uint32_t>(*start), static_cast<uint32_t>(p)});
      start.reset();
      p += ws;
      continue;
    }
    if (!start) start = p;
    ++p;
  }
  if (start) words.push_back({static_cast<uint32_t>(*start), static_cast<uint32_t>(text.size())});

  for (int64_t pos = 1; pos < real_end; ++pos) {
    const uint32_t b = encoding.begins[pos], e = encoding.ends[pos];
    if (e <= b) continue;
    // First word ending after the piece's begin.
    auto it = std::upper_bound(words.begin(), words.end(), b,
                               [](uint32_t v, const Word& w) { return v < w.end; });
    for (; it != words.end() && it->begin < e; ++it) {
      if (it->first < 0) it->first = pos;
      it->last = pos;
    }
  }
  words.erase(std::remove_if(words.begin(), words.end(), [](const Word& w) { return w.first < 0; }),
              words.end());
  return words;
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

  // 1-2. Tag each word by its first piece and group BIO runs of words into spans.
  const std::vector<Word> words = PieceWords(text, encoding, real_end);
  std::vector<Span> spans;
  std::vector<float> probs(tags.labels);
  std::optional<Span> open;
  auto close = [&] {
    if (open) spans.push_back(*open);
    open.reset();
  };
  for (int64_t w = 0; w < static_cast<int64_t>(words.size()); ++w) {
    Softmax(tags.Row(row, words[w].first), tags.labels, probs.data());
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
      open->last = w;
      open->prob_sum += prob;
      continue;
    }
    close();
    open = Span{kind, w, w, prob};
  }
  close();

  // Byte ranges from the first word's begin to the last word's end, trimmed of edge punctuation;
  // spans with nothing else are dropped.
  std::vector<Span> entities, opinions;
  for (Span& s : spans) {
    s.byte_begin = words[s.first].begin;
    s.byte_end = words[s.last].end;
    TrimEdges(text, &s.byte_begin, &s.byte_end);
    if (s.byte_end <= s.byte_begin) continue;
    (s.kind == Kind::kEntity ? entities : opinions).push_back(s);
  }

  std::vector<v1::Tuple> tuples;
  if (opinions.empty()) return tuples;
  const std::vector<uint32_t> cp_index = text::CodePointIndex(text);
  for (const Span& op : opinions) {
    // 3. Aspect and sentiment from the mean logits over the opinion's pieces.
    // The pieces that overlap the trimmed span: edge punctuation pieces take no part.
    int64_t p0 = -1, p1 = -1;
    for (int64_t p = words[op.first].first; p <= words[op.last].last; ++p) {
      if (encoding.begins[p] < op.byte_end && op.byte_begin < encoding.ends[p]) {
        if (p0 < 0) p0 = p;
        p1 = p;
      }
    }
    if (p0 < 0) {  // the trimmed bytes lie in a gap no piece covers: all of the words' pieces
      p0 = words[op.first].first;
      p1 = words[op.last].last;
    }
    const auto [aspect, aspect_prob] = MeanLabel(outputs.aspect, row, p0, p1);
    const auto [sentiment, sentiment_prob] = MeanLabel(outputs.sentiment, row, p0, p1);

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
