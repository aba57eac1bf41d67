// Fuzz target: the decoder (server/decode/decoder.h) on any logits the model might return.
//
// The input bytes are read with FuzzedDataProvider into everything Decode() takes: a model config
// (the demo model's model.json, or a small one with its span labels in another order), a valid
// UTF-8 text built from characters the decoder treats specially (whitespace of every kind the
// server trims, multi-byte letters, emoji, NUL), token byte ranges shaped like the tokenizer's
// (non-decreasing, on character boundaries, possibly empty, gaps between them, truncation), a batch
// of 1-3 rows with padding, the logits of all three heads (small finite values, or raw floats
// including NaN, infinities and huge values), and a threshold in [0, 1].
//
// Invariants checked (a violation aborts, and libFuzzer keeps the input):
//   - every span is non-empty, lies within the text, starts and ends on character boundaries and
//     is trimmed of whitespace; its text is the tuple's entity/opinion; code point offsets match;
//   - every span is whole words: its edges are word edges up to trimmed punctuation;
//   - confidence is a number in [threshold, 1];
//   - aspect and sentiment are labels of the config; an entity-less tuple has no entity span.
//
//   tests/fuzz/run.sh 30
//   build/fuzz/bin/fuzz_decoder -runs=100000 /tmp/decoder-corpus
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/decode/decoder.h"
#include "server/runtime/model_config.h"
#include "server/text/utf8.h"

namespace {

using eaos::runtime::Logits;
using eaos::runtime::ModelConfig;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_decoder invariant broken: %s\n", what.c_str());
  std::abort();
}

void Check(bool ok, const std::string& what) {
  if (!ok) Fail(what);
}

struct Setup {
  ModelConfig config;
  std::unique_ptr<eaos::decode::Decoder> decoder;
};

std::vector<Setup>* setups = nullptr;

void AddSetup(ModelConfig config) {
  absl::StatusOr<eaos::decode::Decoder> decoder = eaos::decode::Decoder::Create(config);
  if (!decoder.ok()) Fail(absl::StrCat("Decoder::Create: ", decoder.status().ToString()));
  setups->push_back(
      {std::move(config), std::make_unique<eaos::decode::Decoder>(*std::move(decoder))});
}

// The demo model's label sets, and one with one aspect, two sentiments and the span labels in
// another order (the decoder finds its tags by name, not by position).
void InitSetups() {
  setups = new std::vector<Setup>;
  absl::StatusOr<ModelConfig> demo =
      eaos::runtime::LoadModelConfig(std::string(EAOS_SOURCE_DIR) + "/models/demo");
  if (!demo.ok()) Fail(absl::StrCat("models/demo/model.json: ", demo.status().ToString()));
  AddSetup(*demo);
  ModelConfig small = *demo;
  small.clear_span_labels();
  for (const char* l : {"I-OPI", "B-ENT", "O", "B-OPI", "I-ENT"}) small.add_span_labels(l);
  small.clear_aspects();
  small.add_aspects("Chung");
  small.clear_sentiments();
  small.add_sentiments("tích cực");
  small.add_sentiments("tiêu cực");
  AddSetup(small);
}

// Characters the decoder treats specially: every whitespace it trims, letters of 1-4 bytes,
// combining marks, zero-width non-space, NUL.
constexpr absl::string_view kPalette[] = {
    "a",  "B",  " ",  "\t", "\n", "\r", "\v", "\f", "\xC2\xA0" /* U+00A0 */,
    "\xE3\x80\x80" /* U+3000 */, "\xE2\x80\x80" /* U+2000 */, "\xE2\x80\x8B" /* U+200B */,
    "\xE2\x80\x8C" /* U+200C: not trimmed */, "\xE2\x80\xA8" /* U+2028 */,
    "\xC6\xB0" /* ư */, "\xE1\xBA\xA5" /* ấ */, "\xCC\x81" /* combining acute */,
    "\xF0\x9F\x91\x8D" /* 👍 */, absl::string_view("\0", 1), "!", "."};

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A valid UTF-8 text; `starts` gets the byte offset of every character plus text.size().
std::string MakeText(FuzzedDataProvider& in, std::vector<uint32_t>* starts) {
  std::string text;
  const int chars = in.ConsumeIntegralInRange(0, 48);
  for (int i = 0; i < chars; ++i) {
    starts->push_back(static_cast<uint32_t>(text.size()));
    const uint8_t pick = in.ConsumeIntegral<uint8_t>();
    if (pick < 224) {
      const absl::string_view c = kPalette[pick % std::size(kPalette)];
      text.append(c.data(), c.size());
    } else {  // any Unicode scalar value
      uint32_t cp = in.ConsumeIntegralInRange<uint32_t>(0, 0x10FFFF - 0x800);
      if (cp >= 0xD800) cp += 0x800;  // skip the surrogates
      AppendUtf8(cp, &text);
    }
  }
  starts->push_back(static_cast<uint32_t>(text.size()));
  return text;
}

// Token byte ranges shaped like the tokenizer's: [BOS] pieces... [EOS] with BOS = [0, 0) and EOS
// = [end of the last piece) empty; pieces on character boundaries, non-decreasing, maybe empty
// (sentencepiece's lone "▁"), with gaps (skipped whitespace), stopping early (truncation).
eaos::text::Encoding MakeEncoding(FuzzedDataProvider& in, const std::vector<uint32_t>& starts,
                                  int max_pieces) {
  const size_t chars = starts.size() - 1;
  eaos::text::Encoding e;
  e.ids = {2};
  e.begins = {0};
  e.ends = {0};
  const int pieces = in.ConsumeIntegralInRange(0, max_pieces);
  size_t at = 0;  // character index
  for (int i = 0; i < pieces; ++i) {
    at = std::min(chars, at + in.ConsumeIntegralInRange<size_t>(0, 2));
    const size_t end = std::min(chars, at + in.ConsumeIntegralInRange<size_t>(0, 4));
    e.ids.push_back(4 + i);
    e.begins.push_back(starts[at]);
    e.ends.push_back(starts[end]);
    at = end;
  }
  e.truncated = at < chars;
  const uint32_t tail = e.ends.back();
  e.ids.push_back(3);
  e.begins.push_back(tail);
  e.ends.push_back(tail);
  return e;
}

void FillLogits(FuzzedDataProvider& in, bool raw, int64_t rows, int64_t cols, int64_t labels,
                Logits* out) {
  out->rows = rows;
  out->cols = cols;
  out->labels = labels;
  out->data.resize(static_cast<size_t>(rows * cols * labels));
  for (float& v : out->data) {
    if (!raw) {
      v = static_cast<float>(in.ConsumeIntegral<int8_t>()) / 8.0f;
      continue;
    }
    // A broken checkpoint or an fp16 overflow can return anything.
    switch (in.ConsumeIntegralInRange(0, 7)) {
      case 0: v = std::numeric_limits<float>::quiet_NaN(); break;
      case 1: v = std::numeric_limits<float>::infinity(); break;
      case 2: v = -std::numeric_limits<float>::infinity(); break;
      default: v = in.ConsumeFloatingPoint<float>();  // finite, up to +-FLT_MAX
    }
  }
}

bool OnBoundary(absl::string_view text, uint32_t b) {
  return b == text.size() || (static_cast<unsigned char>(text[b]) & 0xC0) != 0x80;
}

// Byte length of the edge punctuation (docs/model-contract.md, "Whole-word spans") at text[pos].
size_t PunctuationAt(absl::string_view text, size_t pos) {
  if (absl::string_view("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~").find(text[pos]) !=
      absl::string_view::npos) {
    return 1;
  }
  for (absl::string_view p : {"\u2026", "\u201c", "\u201d", "\u2018", "\u2019", "\u2013", "\u2014",
                              "\u00ab", "\u00bb"}) {
    if (text.substr(pos, p.size()) == p) return p.size();
  }
  return 0;
}

// Whole words: the character before `b` and the one at `e` are whitespace or punctuation (or
// the text's edge), and the span's own first and last characters are not punctuation.
void CheckWordEdges(absl::string_view text, uint32_t b, uint32_t e, const char* name) {
  if (b > 0) {
    uint32_t prev = b - 1;
    while (!OnBoundary(text, prev)) --prev;
    Check(eaos::text::WhitespaceLengthAt(text, prev) > 0 || PunctuationAt(text, prev) > 0,
          absl::StrCat(name, " starts inside a word at byte ", b));
  }
  if (e < text.size()) {
    Check(eaos::text::WhitespaceLengthAt(text, e) > 0 || PunctuationAt(text, e) > 0,
          absl::StrCat(name, " ends inside a word at byte ", e));
  }
  uint32_t last = e - 1;
  while (!OnBoundary(text, last)) --last;
  Check(PunctuationAt(text, b) == 0 && PunctuationAt(text.substr(0, e), last) == 0,
        absl::StrCat(name, " starts or ends with punctuation"));
}

void CheckSpan(absl::string_view text, const std::vector<uint32_t>& cp_index,
               const eaos::v1::Span& span, const std::string& content, const char* name) {
  const uint32_t b = span.byte_begin();
  const uint32_t e = span.byte_end();
  Check(b < e && e <= text.size(), absl::StrCat(name, " span [", b, ", ", e, ") outside text of ",
                                                text.size(), " bytes"));
  Check(OnBoundary(text, b) && OnBoundary(text, e),
        absl::StrCat(name, " span [", b, ", ", e, ") splits a character"));
  Check(content == text.substr(b, e - b), absl::StrCat(name, " text is not its span's bytes"));
  Check(eaos::text::IsValidUtf8(content), absl::StrCat(name, " is not valid UTF-8"));
  Check(eaos::text::WhitespaceLengthAt(text, b) == 0, absl::StrCat(name, " starts with space"));
  uint32_t last = e - 1;
  while (!OnBoundary(text, last)) --last;
  Check(eaos::text::WhitespaceLengthAt(text.substr(0, e), last) == 0,
        absl::StrCat(name, " ends with space"));
  Check(span.begin() == cp_index[b] && span.end() == cp_index[e],
        absl::StrCat(name, " code point offsets do not match its bytes"));
  CheckWordEdges(text, b, e, name);
}

bool Contains(const google::protobuf::RepeatedPtrField<std::string>& labels,
              const std::string& label) {
  return std::find(labels.begin(), labels.end(), label) != labels.end();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  InitSetups();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const Setup& setup = (*setups)[in.ConsumeIntegralInRange<size_t>(0, setups->size() - 1)];
  const bool raw = in.ConsumeBool();
  const float threshold = in.PickValueInArray({0.0f, 0.5f, 1.0f, -1.0f});
  const float t = threshold >= 0 ? threshold : in.ConsumeProbability<float>();
  const int64_t rows = in.ConsumeIntegralInRange(1, 3);
  const int64_t row = in.ConsumeIntegralInRange<int64_t>(0, rows - 1);
  const int64_t padding = in.ConsumeIntegralInRange(0, 3);

  std::vector<uint32_t> starts;
  const std::string text = MakeText(in, &starts);
  const eaos::text::Encoding encoding = MakeEncoding(in, starts, 40);
  const int64_t cols = static_cast<int64_t>(encoding.size()) + padding;
  eaos::runtime::ModelOutputs outputs;
  FillLogits(in, raw, rows, cols, setup.config.span_labels_size(), &outputs.span);
  FillLogits(in, raw, rows, cols, setup.config.aspects_size(), &outputs.aspect);
  FillLogits(in, raw, rows, cols, setup.config.sentiments_size(), &outputs.sentiment);

  const std::vector<eaos::v1::Tuple> tuples =
      setup.decoder->Decode(text, encoding, outputs, row, t);

  const std::vector<uint32_t> cp_index = eaos::text::CodePointIndex(text);
  for (const eaos::v1::Tuple& tuple : tuples) {
    Check(tuple.confidence() >= t && tuple.confidence() <= 1.0f,
          absl::StrCat("confidence ", tuple.confidence(), " outside [", t, ", 1]"));
    Check(Contains(setup.config.aspects(), tuple.aspect()), "aspect not in the config");
    Check(Contains(setup.config.sentiments(), tuple.sentiment()), "sentiment not in the config");
    Check(tuple.has_opinion_span(), "tuple without an opinion span");
    CheckSpan(text, cp_index, tuple.opinion_span(), tuple.opinion(), "opinion");
    if (tuple.entity().empty()) {
      Check(!tuple.has_entity_span(), "entity span without an entity");
    } else {
      Check(tuple.has_entity_span(), "entity without a span");
      CheckSpan(text, cp_index, tuple.entity_span(), tuple.entity(), "entity");
    }
  }
  return 0;
}
