#include "client/cpp/jsonl.h"

#include <cmath>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace eaos::client {
namespace {

constexpr size_t kNpos = absl::string_view::npos;

size_t SkipSpace(absl::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  return i;
}

// s[i] is '"'. Returns the index after the closing quote, or kNpos.
size_t SkipString(absl::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return kNpos;
}

// Returns the index after the JSON value starting at s[i], or kNpos. Lenient: only finds where
// the value ends; the protobuf parser does the validation.
size_t SkipValue(absl::string_view s, size_t i) {
  if (i >= s.size()) return kNpos;
  if (s[i] == '"') return SkipString(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = SkipString(s, i);
        if (i == kNpos) return kNpos;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if ((c == '}' || c == ']') && --depth == 0) return i + 1;
      ++i;
    }
    return kNpos;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && SkipSpace(s, i) == i) ++i;
  return i;
}

// The [begin, end) range of the number literal that is the value of the top-level "id" key of
// the object in `line`, if there is one.
std::optional<std::pair<size_t, size_t>> FindNumericId(absl::string_view line) {
  size_t i = SkipSpace(line, 0);
  if (i >= line.size() || line[i] != '{') return std::nullopt;
  ++i;
  while (true) {
    i = SkipSpace(line, i);
    if (i >= line.size() || line[i] != '"') return std::nullopt;
    const size_t key_end = SkipString(line, i);
    if (key_end == kNpos) return std::nullopt;
    const absl::string_view key = line.substr(i + 1, key_end - i - 2);
    i = SkipSpace(line, key_end);
    if (i >= line.size() || line[i] != ':') return std::nullopt;
    i = SkipSpace(line, i + 1);
    const size_t value_end = SkipValue(line, i);
    if (value_end == kNpos) return std::nullopt;
    if (key == "id" && i < value_end && (line[i] == '-' || absl::ascii_isdigit(line[i]))) {
      for (size_t j = i; j < value_end; ++j) {
        const char c = line[j];
        if (!absl::ascii_isdigit(c) && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E') {
          return std::nullopt;
        }
      }
      return std::make_pair(i, value_end);
    }
    i = SkipSpace(line, value_end);
    if (i >= line.size() || line[i] != ',') return std::nullopt;
    ++i;
  }
}

// The protobuf parser appends the offending input on further lines; keeps the first one.
template <typename ProtobufStatus>
std::string FirstLineOf(const ProtobufStatus& status) {
  std::string message(status.message().data(), status.message().size());
  if (const size_t newline = message.find('\n'); newline != std::string::npos) {
    message.resize(newline);
  }
  return message;
}

// A JSON number as an id: the literal as written when it can be found, else the parsed value.
std::string NumericId(absl::string_view line, double value) {
  if (const auto span = FindNumericId(line); span.has_value()) {
    return std::string(line.substr(span->first, span->second - span->first));
  }
  if (std::trunc(value) == value && std::fabs(value) < 9007199254740992.0) {  // 2^53
    return absl::StrCat(static_cast<int64_t>(value));
  }
  return absl::StrFormat("%.17g", value);  // round-trips the double
}

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 if it is invalid there.
size_t ValidUtf8Length(absl::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  size_t length;
  uint32_t code_point;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code_point = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  const bool overlong =
      (length == 3 && code_point < 0x800) || (length == 4 && code_point < 0x10000);
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  if (overlong || surrogate || code_point > 0x10FFFF) return 0;
  return length;
}

void AppendSpan(bool has_span, const eaos::v1::Span& span, std::string* out) {
  if (!has_span) {
    out->append("null");
    return;
  }
  absl::StrAppend(out, "[", span.begin(), ",", span.end(), "]");
}

}  // namespace

absl::StatusOr<InputLine> ParseInputLine(absl::string_view line, int64_t line_number) {
  const auto fail = [line_number](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": ", message));
  };
  // A UTF-8 byte-order mark, as some editors write at the start of a file, is not JSON.
  if (line_number == 1 && absl::StartsWith(line, "\xEF\xBB\xBF")) line.remove_prefix(3);
  // Parsed as a generic object: Item.text is `bytes` (base64 in proto JSON), and a numeric id
  // must be accepted; the object is then read field by field.
  google::protobuf::Struct object;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), &object);
  if (!status.ok()) {
    return fail(absl::StrCat("not a JSON object like {\"id\": \"...\", \"text\": \"...\"}: ",
                             FirstLineOf(status)));
  }

  InputLine input;
  eaos::v1::Item& item = input.item;
  const auto& fields = object.fields();
  if (const auto id = fields.find("id"); id != fields.end()) {
    switch (id->second.kind_case()) {
      case google::protobuf::Value::kStringValue:
        item.set_id(id->second.string_value());
        break;
      case google::protobuf::Value::kNumberValue:
        item.set_id(NumericId(line, id->second.number_value()));
        break;
      case google::protobuf::Value::kNullValue:
        break;
      default:
        return fail("\"id\" must be a string or a number");
    }
  }
  const auto text = fields.find("text");
  if (text == fields.end() || text->second.has_null_value()) {
    input.text_error = fail("\"text\" is missing");
  } else if (text->second.kind_case() != google::protobuf::Value::kStringValue) {
    input.text_error = fail("\"text\" must be a string");
  } else {
    item.set_text(text->second.string_value());
  }
  return input;
}

absl::StatusOr<eaos::v1::Item> ParseItemLine(absl::string_view line, int64_t line_number) {
  absl::StatusOr<InputLine> input = ParseInputLine(line, line_number);
  if (!input.ok()) return input.status();
  if (!input->text_error.ok()) return input->text_error;
  if (input->item.text().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": \"text\" is empty"));
  }
  return std::move(input->item);
}

absl::StatusOr<std::string> ParseOutputId(absl::string_view line) {
  google::protobuf::Struct object;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), &object);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not a JSON object: ", FirstLineOf(status)));
  }
  const auto id = object.fields().find("id");
  if (id == object.fields().end() || id->second.has_null_value()) return std::string();
  if (id->second.kind_case() != google::protobuf::Value::kStringValue) {
    return absl::InvalidArgumentError("\"id\" is not a string");
  }
  return id->second.string_value();
}

void AppendJsonString(absl::string_view value, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < value.size()) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80) {
      const size_t length = ValidUtf8Length(value, i);
      if (length == 0) {
        out->append("\\ufffd");
        ++i;
      } else {
        out->append(value.data() + i, length);
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

std::string FormatResultLine(const eaos::v1::Item& item, const eaos::v1::ItemResult& result) {
  std::string out;
  out.reserve(64 + item.id().size() + 2 * item.text().size() + 160 * static_cast<size_t>(result.tuples_size()));
  out.append("{\"id\":");
  AppendJsonString(item.id(), &out);
  out.append(",\"text\":");
  AppendJsonString(item.text(), &out);
  out.append(",\"predictions\":[");
  for (int i = 0; i < result.tuples_size(); ++i) {
    const eaos::v1::Tuple& tuple = result.tuples(i);
    if (i > 0) out.push_back(',');
    out.append("{\"entity\":");
    AppendJsonString(tuple.entity(), &out);
    out.append(",\"aspect\":");
    AppendJsonString(tuple.aspect(), &out);
    out.append(",\"opinion\":");
    AppendJsonString(tuple.opinion(), &out);
    out.append(",\"sentiment\":");
    AppendJsonString(tuple.sentiment(), &out);
    out.append(",\"confidence\":");
    if (std::isfinite(tuple.confidence())) {
      absl::StrAppend(&out, tuple.confidence());
    } else {
      out.append("null");
    }
    out.append(",\"entity_span\":");
    AppendSpan(tuple.has_entity_span(), tuple.entity_span(), &out);
    out.append(",\"opinion_span\":");
    AppendSpan(tuple.has_opinion_span(), tuple.opinion_span(), &out);
    out.push_back('}');
  }
  out.push_back(']');
  if (result.has_error()) {
    absl::StrAppend(&out, ",\"error\":{\"code\":", result.error().code(), ",\"message\":");
    AppendJsonString(result.error().message(), &out);
    out.push_back('}');
  }
  if (result.truncated()) out.append(",\"truncated\":true");
  out.push_back('}');
  return out;
}

}  // namespace eaos::client
