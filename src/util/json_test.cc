// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "util/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace sluice::internal {
namespace {

using ::testing::HasSubstr;

Json Parse(std::string_view text) {
  Result<Json> r = ParseJson(text);
  EXPECT_TRUE(r.ok()) << text << " -> " << r.status().ToString();
  return r.ok() ? *r : Json();
}

std::string ParseError(std::string_view text) {
  Result<Json> r = ParseJson(text);
  EXPECT_FALSE(r.ok()) << "parsed: " << text;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST(JsonTest, Scalars) {
  EXPECT_TRUE(Parse("null").is_null());
  EXPECT_EQ(Parse("true"), Json::Bool(true));
  EXPECT_EQ(Parse(" false "), Json::Bool(false));
  EXPECT_EQ(Parse("\"hi\""), Json::String("hi"));
  EXPECT_EQ(Parse("0"), Json::Int(0));
  EXPECT_EQ(Parse("-0"), Json::Int(0));
  EXPECT_EQ(Parse("-17"), Json::Int(-17));
}

TEST(JsonTest, IntegersAreExactInt64) {
  EXPECT_EQ(Parse("9223372036854775807"), Json::Int(std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(Parse("-9223372036854775808"), Json::Int(std::numeric_limits<int64_t>::min()));
  // 2^53 + 1 is not representable as a double; it must survive.
  EXPECT_EQ(Parse("9007199254740993").as_int(), 9007199254740993);
  EXPECT_THAT(ParseError("9223372036854775808"), HasSubstr("integer out of int64 range"));
  EXPECT_THAT(ParseError("-9223372036854775809"), HasSubstr("at byte 0"));
}

TEST(JsonTest, FractionOrExponentMakesADouble) {
  EXPECT_EQ(Parse("1.5"), Json::Double(1.5));
  EXPECT_EQ(Parse("1.0"), Json::Double(1.0));
  EXPECT_EQ(Parse("1e3"), Json::Double(1000.0));
  EXPECT_EQ(Parse("-2.5E-1"), Json::Double(-0.25));
  EXPECT_TRUE(Parse("1e2").is_double());
  EXPECT_EQ(Parse("7").as_number(), 7.0);
  EXPECT_THAT(ParseError("1e400"), HasSubstr("out of double range"));
}

TEST(JsonTest, MalformedNumbers) {
  for (const char* text : {"01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "1.5.2", "--1", "NaN", "Infinity"}) {
    ParseError(text);
  }
}

TEST(JsonTest, ObjectsKeepInsertionOrder) {
  Json v = Parse(R"({"b": 1, "a": [true, null, "x"], "c": {}})");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.as_object().size(), 3u);
  EXPECT_EQ(v.as_object()[0].first, "b");
  EXPECT_EQ(v.as_object()[1].first, "a");
  EXPECT_EQ(*v.Find("b"), Json::Int(1));
  EXPECT_EQ(v.Find("a")->as_array().size(), 3u);
  EXPECT_EQ(v.Find("zzz"), nullptr);
  EXPECT_EQ(WriteJson(v), R"({"b":1,"a":[true,null,"x"],"c":{}})");
}

TEST(JsonTest, SetReplacesInPlaceAndAppendsNew) {
  Json o = Json::MakeObject();
  o.Set("x", Json::Int(1)).Set("y", Json::Int(2)).Set("x", Json::Int(3));
  EXPECT_EQ(WriteJson(o), R"({"x":3,"y":2})");
  Json a = Json::MakeArray();
  a.Append(Json::Int(1)).Append(Json::String("s"));
  EXPECT_EQ(WriteJson(a), R"([1,"s"])");
}

TEST(JsonTest, ErrorsGiveByteOffsetAndReason) {
  EXPECT_EQ(ParseError(R"({"a" 1})"), "JSON parse error at byte 5: expected ':' after object key");
  EXPECT_EQ(ParseError(R"({"a":1,"a":2})"), "JSON parse error at byte 7: duplicate key \"a\"");
  EXPECT_EQ(ParseError("[1,2"), "JSON parse error at byte 4: unexpected end of input in array");
  EXPECT_EQ(ParseError("[1,]"), "JSON parse error at byte 3: invalid value");
  EXPECT_EQ(ParseError("{\"a\":1,}"), "JSON parse error at byte 7: expected a string key in object");
  EXPECT_EQ(ParseError("1 2"), "JSON parse error at byte 2: unexpected data after the JSON value");
  EXPECT_EQ(ParseError(""), "JSON parse error at byte 0: unexpected end of input, expected a value");
  EXPECT_EQ(ParseError("   "), "JSON parse error at byte 3: unexpected end of input, expected a value");
  EXPECT_THAT(ParseError("tru"), HasSubstr("invalid value"));
  EXPECT_THAT(ParseError("{'a':1}"), HasSubstr("expected a string key"));
  EXPECT_THAT(ParseError("[1] // comment"), HasSubstr("unexpected data"));
}

TEST(JsonTest, DepthLimit) {
  std::string ok_text = std::string(64, '[') + std::string(64, ']');
  EXPECT_TRUE(ParseJson(ok_text).ok());
  std::string deep = std::string(65, '[') + std::string(65, ']');
  EXPECT_THAT(ParseError(deep), HasSubstr("nesting deeper than 64 levels"));
  EXPECT_FALSE(ParseJson("[[1]]", 1).ok());
  EXPECT_TRUE(ParseJson("[1]", 1).ok());
  // Far beyond the limit fails cleanly instead of overflowing the stack.
  std::string very_deep(100000, '[');
  EXPECT_FALSE(ParseJson(very_deep).ok());
}

TEST(JsonTest, StringEscapes) {
  EXPECT_EQ(Parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string(), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(Parse(R"("\u0041\u00e9\u20AC")").as_string(), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(Parse(R"("\u0000")").as_string(), std::string(1, '\0'));
  // U+1F600 as a surrogate pair.
  EXPECT_EQ(Parse(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_THAT(ParseError(R"("\ud83d")"), HasSubstr("high surrogate not followed by a low surrogate"));
  EXPECT_THAT(ParseError(R"("\ud83d\u0041")"), HasSubstr("high surrogate"));
  EXPECT_THAT(ParseError(R"("\ude00")"), HasSubstr("unpaired low surrogate"));
  EXPECT_THAT(ParseError(R"("\u12G4")"), HasSubstr("invalid \\u escape"));
  EXPECT_THAT(ParseError(R"("\x")"), HasSubstr("invalid escape"));
  EXPECT_THAT(ParseError("\"a\nb\""), HasSubstr("control character"));
  EXPECT_THAT(ParseError("\"abc"), HasSubstr("unterminated string"));
}

TEST(JsonTest, WriterEscapes) {
  EXPECT_EQ(WriteJson(Json::String("a\"b\\c\n\x01\x7f/")), R"("a\"b\\c\n\u0001\u007f/")");
  EXPECT_EQ(WriteJson(Json::String(std::string("\0x", 2))), R"("\u0000x")");
  EXPECT_EQ(WriteJson(Json::String("\xC3\xA9")), "\"\xC3\xA9\"");
}

// Any valid UTF-8 (including control characters, which the writer escapes)
// round-trips through the writer and the parser.
TEST(JsonTest, Utf8StringsRoundTrip) {
  std::mt19937_64 rng(7);
  std::string samples[] = {"a", "\x7f", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF",
                           std::string(1, '\0'), "\"", "\\", "\n"};
  for (int i = 0; i < 500; ++i) {
    std::string s;
    for (uint64_t n = rng() % 20; n > 0; --n) s += samples[rng() % std::size(samples)];
    ASSERT_TRUE(IsValidUtf8(s));
    Json v = Json::MakeObject();
    v.Set(s, Json::String(s));
    Result<Json> back = ParseJson(WriteJson(v));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, v);
  }
}

// RFC 8259 text is UTF-8: a string holding bytes that are not is rejected with
// the offset of the offending byte, in values and in member names.
TEST(JsonTest, RejectsInvalidUtf8InStrings) {
  EXPECT_EQ(ParseError("\"ab\xFF\""), "JSON parse error at byte 3: invalid UTF-8 in string: byte 0xff cannot start a character");
  EXPECT_EQ(ParseError("\"\x80\""), "JSON parse error at byte 1: invalid UTF-8 in string: byte 0x80 cannot start a character");
  EXPECT_EQ(ParseError("\"x\xED\xA0\x80\""), "JSON parse error at byte 2: invalid UTF-8 in string: encoded surrogate U+D800");
  EXPECT_EQ(ParseError("\"\xED\xBF\xBF\""), "JSON parse error at byte 1: invalid UTF-8 in string: encoded surrogate U+DFFF");
  EXPECT_EQ(ParseError("\"\xC0\xAF\""), "JSON parse error at byte 1: invalid UTF-8 in string: byte 0xc0 cannot start a character");
  EXPECT_EQ(ParseError("\"\xE0\x80\xAF\""), "JSON parse error at byte 1: invalid UTF-8 in string: overlong encoding of U+002F");
  EXPECT_EQ(ParseError("\"\xF0\x80\x80\xAF\""), "JSON parse error at byte 1: invalid UTF-8 in string: overlong encoding of U+002F");
  EXPECT_EQ(ParseError("\"\xF4\x90\x80\x80\""), "JSON parse error at byte 1: invalid UTF-8 in string: U+110000 is beyond U+10FFFF");
  EXPECT_EQ(ParseError("\"\xF5\x80\x80\x80\""), "JSON parse error at byte 1: invalid UTF-8 in string: byte 0xf5 cannot start a character");
  EXPECT_EQ(ParseError("\"\xC3\""), "JSON parse error at byte 1: invalid UTF-8 in string: truncated sequence");
  EXPECT_EQ(ParseError("\"\xE2\x82\""), "JSON parse error at byte 1: invalid UTF-8 in string: truncated sequence");
  EXPECT_EQ(ParseError("\"\xE2\x82"), "JSON parse error at byte 1: invalid UTF-8 in string: truncated sequence");
  EXPECT_EQ(ParseError("\"\xC3" "A\""), "JSON parse error at byte 1: invalid UTF-8 in string: truncated sequence");
  EXPECT_EQ(ParseError("{\"k\xFF\":1}"), "JSON parse error at byte 3: invalid UTF-8 in string: byte 0xff cannot start a character");
  // Lone surrogates cannot be written as escapes either.
  EXPECT_THAT(ParseError(R"("\udbff")"), HasSubstr("high surrogate not followed by a low surrogate"));
  EXPECT_THAT(ParseError(R"("\udc00\ud800")"), HasSubstr("unpaired low surrogate"));
  // Valid multi-byte characters at the edges of each range are kept as they are.
  for (std::string ok : {"\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEE\x80\x80", "\xEF\xBF\xBF",
                         "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_EQ(Parse("\"" + ok + "\"").as_string(), ok);
  }
  // Outside strings any byte >= 0x80 is simply not JSON.
  EXPECT_THAT(ParseError("\xC3\xA9"), HasSubstr("invalid value"));
}

// The duplicate check does not grow quadratically: a large object is accepted,
// and a duplicate anywhere in it is found and named with its offset.
TEST(JsonTest, LargeObjectsAndTheirDuplicates) {
  constexpr int kMembers = 80'000;
  std::string text = "{";
  std::vector<size_t> offsets;
  for (int i = 0; i < kMembers; ++i) {
    if (i > 0) text += ',';
    offsets.push_back(text.size());
    text += "\"member-" + std::to_string(i) + "\":" + std::to_string(i);
  }
  Result<Json> ok = ParseJson(text + "}");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->as_object().size(), static_cast<size_t>(kMembers));
  EXPECT_EQ(ok->as_object()[12'345].first, "member-12345");
  EXPECT_EQ(ok->Find("member-79999")->as_int(), 79'999);
  // A repeat of an early, a middle and the last member, appended at the end.
  for (int dup : {0, 40'000, kMembers - 1}) {
    const std::string with_dup = text + ",\"member-" + std::to_string(dup) + "\":1}";
    EXPECT_EQ(ParseError(with_dup), "JSON parse error at byte " + std::to_string(text.size() + 1) +
                                        ": duplicate key \"member-" + std::to_string(dup) + "\"");
  }
  // Two duplicates: the first one in the text is reported.
  std::string two = text;
  two.replace(offsets[50'000], std::string("\"member-50000\"").size(), "\"member-00007\"");
  two.replace(offsets[60'000], std::string("\"member-60000\"").size(), "\"member-00003\"");
  EXPECT_TRUE(ParseJson(two + "}").ok());  // "member-00007" is not "member-7"
  two.replace(offsets[50'000], std::string("\"member-00007\"").size(), "\"member-7\"\x20\x20\x20\x20");
  two.replace(offsets[60'000], std::string("\"member-00003\"").size(), "\"member-3\"\x20\x20\x20\x20");
  EXPECT_EQ(ParseError(two + "}"), "JSON parse error at byte " + std::to_string(offsets[50'000]) +
                                       ": duplicate key \"member-7\"");
  // Keys that differ only after an escape, or by a decoded escape, are compared decoded.
  EXPECT_THAT(ParseError(R"({"a\u0062":1,"ab":2})"), HasSubstr("duplicate key \"ab\""));
  EXPECT_TRUE(ParseJson(R"({"a\u0062":1,"a\\b":2})").ok());
}

TEST(JsonTest, DoublesRoundTripAndStayDoubles) {
  for (double d : {0.0, 1.0, -1.0, 0.1, 1.0 / 3.0, 1e300, -2.5e-300, 123456789.125, 4.9e-324}) {
    std::string text = WriteJson(Json::Double(d));
    Json back = Parse(text);
    ASSERT_TRUE(back.is_double()) << text;
    EXPECT_EQ(back.as_double(), d) << text;
  }
  EXPECT_EQ(WriteJson(Json::Double(1.0)), "1.0");
  EXPECT_EQ(WriteJson(Json::Double(0.5)), "0.5");
  EXPECT_EQ(WriteJson(Json::Double(std::numeric_limits<double>::quiet_NaN())), "null");
  EXPECT_EQ(WriteJson(Json::Double(std::numeric_limits<double>::infinity())), "null");
}

TEST(JsonTest, PrettyOutput) {
  Json v = Parse(R"({"a":1,"b":[1,2],"c":[[1,2],[3,4]],"d":{},"e":[],"f":{"g":"h"}})");
  EXPECT_EQ(WriteJson(v, /*pretty=*/true),
            "{\n"
            "  \"a\": 1,\n"
            "  \"b\": [1, 2],\n"
            "  \"c\": [\n"
            "    [1, 2],\n"
            "    [3, 4]\n"
            "  ],\n"
            "  \"d\": {},\n"
            "  \"e\": [],\n"
            "  \"f\": {\n"
            "    \"g\": \"h\"\n"
            "  }\n"
            "}");
  EXPECT_EQ(Parse(WriteJson(v, true)), v);
}

TEST(JsonTest, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
  EXPECT_TRUE(IsValidUtf8(std::string("\0", 1)));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
}

TEST(JsonTest, Base64) {
  // RFC 4648 section 10.
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("\xff\xfe"), "//4=");
  EXPECT_EQ(Base64Decode("Zm9vYg=="), "foob");
  EXPECT_EQ(Base64Decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(Base64Decode(""), "");
  for (const char* bad : {"Zg", "Zg=", "Z===", "Zh==", "Zm9=", "Zm9v!A==", "Zg==Zg==", "=Zg=", "Zm 9v"}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {
    std::string s(rng() % 20, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    EXPECT_EQ(Base64Decode(Base64Encode(s)), s);
  }
}

TEST(JsonObjectReaderTest, TypedFieldsAndUnknownFields) {
  Json v = Parse(R"({"n": 5, "d": 5.0, "s": "x", "o": {}, "a": [], "extra": 1})");
  Result<JsonObjectReader> r = JsonObjectReader::Create(v, "rec");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->GetInt("n"), 5);
  EXPECT_EQ(r->GetInt("d").status().message(), "rec.d: expected an integer, got number with a fraction or exponent");
  EXPECT_EQ(r->GetInt("s").status().message(), "rec.s: expected an integer, got string");
  EXPECT_EQ(r->GetInt("missing").status().message(), "rec.missing: required field is missing");
  EXPECT_EQ(*r->GetString("s"), "x");
  EXPECT_TRUE(r->GetObject("o").ok());
  EXPECT_FALSE(r->GetObject("a").ok());
  EXPECT_TRUE(r->GetArray("a").ok());
  EXPECT_FALSE((*r->GetOptionalInt("absent")).has_value());
  EXPECT_FALSE(r->GetOptionalString("n").ok());
  EXPECT_EQ(r->CheckNoUnknownFields().message(), "rec.extra: unknown field");
  EXPECT_TRUE(r->Get("extra") != nullptr);
  EXPECT_TRUE(r->CheckNoUnknownFields().ok());
  EXPECT_EQ(JsonObjectReader::Create(Json::Int(1), "rec").status().message(),
            "rec: expected an object, got integer");
}

}  // namespace
}  // namespace sluice::internal
