// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/rls_proto.h"

#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>
#include <vector>
#include <string>

#include "daemon/json_mutation_for_test.h"
#include "envoy/service/ratelimit/v3/rls.pb.h"

namespace sluice::daemon {
namespace {

namespace rls = envoy::service::ratelimit::v3;
using ::testing::HasSubstr;

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// The request {domain:"d", descriptors:[{entries:[{key:"remote_address",
// value:"1.2.3.4"}]}], hits_addend:1} as Envoy sends it.
RlsDescriptor Descriptor(std::vector<RlsEntry> entries, std::optional<RlsLimitOverride> limit = std::nullopt,
                         std::optional<uint64_t> hits_addend = std::nullopt) {
  RlsDescriptor d;
  d.entries = std::move(entries);
  d.limit = limit;
  d.hits_addend = hits_addend;
  return d;
}

RlsDescriptorStatus DescriptorStatus(RlsCode code, std::optional<RlsRateLimit> limit = std::nullopt,
                                     uint32_t remaining = 0,
                                     std::optional<std::chrono::nanoseconds> reset = std::nullopt) {
  RlsDescriptorStatus s;
  s.code = code;
  s.current_limit = std::move(limit);
  s.limit_remaining = remaining;
  s.duration_until_reset = reset;
  return s;
}

RlsMetadataValue Metadata(RlsMetadataValue::Kind kind) {
  RlsMetadataValue v;
  v.kind = kind;
  return v;
}

RlsMetadataValue MetadataString(std::string s) {
  RlsMetadataValue v = Metadata(RlsMetadataValue::Kind::kString);
  v.string_value = std::move(s);
  return v;
}

RlsMetadataValue MetadataNumber(double n) {
  RlsMetadataValue v = Metadata(RlsMetadataValue::Kind::kNumber);
  v.number_value = n;
  return v;
}

constexpr std::string_view kGoldenRequestHex = "0a0164121b0a190a0e72656d6f74655f616464726573731207312e322e332e341801";

TEST(RlsProtoTest, GoldenVectorDecodes) {
  rls::RateLimitRequest proto;
  ASSERT_TRUE(proto.ParseFromString(FromHex(kGoldenRequestHex)));
  Result<RlsRequest> request = FromProto(proto);
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(request->domain, "d");
  EXPECT_EQ(request->hits_addend, 1u);
  ASSERT_EQ(request->descriptors.size(), 1u);
  const RlsDescriptor& d = request->descriptors[0];
  ASSERT_EQ(d.entries.size(), 1u);
  EXPECT_EQ(d.entries[0].key, "remote_address");
  EXPECT_EQ(d.entries[0].value, "1.2.3.4");
  EXPECT_FALSE(d.limit.has_value());
  EXPECT_FALSE(d.hits_addend.has_value());
}

TEST(RlsProtoTest, GoldenVectorEncodesByteForByte) {
  RlsRequest request;
  request.domain = "d";
  request.hits_addend = 1;
  request.descriptors.push_back(Descriptor({{.key = "remote_address", .value = "1.2.3.4"}}));
  rls::RateLimitRequest proto;
  ToProto(request, &proto);
  std::string bytes;
  ASSERT_TRUE(proto.SerializeToString(&bytes));
  EXPECT_EQ(ToHex(bytes), kGoldenRequestHex);
  EXPECT_EQ(bytes.size(), 34u);
}

TEST(RlsProtoTest, RequestRoundTripsWithOverrideAndDescriptorHits) {
  RlsRequest request;
  request.domain = "edge";
  request.hits_addend = 7;
  request.descriptors.push_back(Descriptor({{.key = "user", .value = "alice"}, {.key = "path", .value = ""}},
                                         RlsLimitOverride{.requests_per_unit = 42, .unit = RlsUnit::kYear}, 0));
  request.descriptors.push_back(
      Descriptor({{.key = "k", .value = "v"}}, std::nullopt, std::numeric_limits<uint64_t>::max()));
  rls::RateLimitRequest proto;
  ToProto(request, &proto);
  std::string bytes;
  ASSERT_TRUE(proto.SerializeToString(&bytes));
  rls::RateLimitRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  ASSERT_TRUE(parsed.descriptors(0).has_hits_addend());  // 0 is present, not absent
  Result<RlsRequest> back = FromProto(parsed);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->domain, "edge");
  EXPECT_EQ(back->hits_addend, 7u);
  ASSERT_EQ(back->descriptors.size(), 2u);
  EXPECT_EQ(back->descriptors[0].entries.size(), 2u);
  EXPECT_EQ(back->descriptors[0].entries[1].key, "path");
  EXPECT_EQ(back->descriptors[0].entries[1].value, "");
  ASSERT_TRUE(back->descriptors[0].limit.has_value());
  EXPECT_EQ(back->descriptors[0].limit->requests_per_unit, 42u);
  EXPECT_EQ(back->descriptors[0].limit->unit, RlsUnit::kYear);
  EXPECT_EQ(back->descriptors[0].hits_addend, std::optional<uint64_t>(0));
  EXPECT_FALSE(back->descriptors[1].limit.has_value());
  EXPECT_EQ(back->descriptors[1].hits_addend, std::numeric_limits<uint64_t>::max());
}

TEST(RlsProtoTest, UnknownOverrideUnitNumberIsRejected) {
  rls::RateLimitRequest proto;
  proto.set_domain("d");
  auto* descriptor = proto.add_descriptors();
  descriptor->add_entries()->set_key("k");
  // WEEK (7) exists only in the response's enum; the request's unit enum
  // stops at YEAR.
  descriptor->mutable_limit()->set_unit(static_cast<envoy::type::v3::RateLimitUnit>(7));
  std::string bytes;
  ASSERT_TRUE(proto.SerializeToString(&bytes));
  rls::RateLimitRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  Result<RlsRequest> request = FromProto(parsed);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(request.status().message()), HasSubstr("descriptors[0].limit.unit"));
}

TEST(RlsProtoTest, JsonRequestInCamelCaseAndSnakeCase) {
  for (const char* json : {
           R"({"domain":"edge","hitsAddend":3,"descriptors":[{"entries":[{"key":"user","value":"bob"}],
               "limit":{"requestsPerUnit":10,"unit":"MINUTE"},"hitsAddend":"5"}]})",
           R"({"domain":"edge","hits_addend":3,"descriptors":[{"entries":[{"key":"user","value":"bob"}],
               "limit":{"requests_per_unit":10,"unit":2},"hits_addend":5}]})",
       }) {
    SCOPED_TRACE(json);
    Result<RlsRequest> request = ParseRlsRequestJson(json);
    ASSERT_TRUE(request.ok()) << request.status().ToString();
    EXPECT_EQ(request->domain, "edge");
    EXPECT_EQ(request->hits_addend, 3u);
    ASSERT_EQ(request->descriptors.size(), 1u);
    EXPECT_EQ(request->descriptors[0].entries[0].value, "bob");
    ASSERT_TRUE(request->descriptors[0].limit.has_value());
    EXPECT_EQ(request->descriptors[0].limit->requests_per_unit, 10u);
    EXPECT_EQ(request->descriptors[0].limit->unit, RlsUnit::kMinute);
    EXPECT_EQ(request->descriptors[0].hits_addend, std::optional<uint64_t>(5));
  }
}

TEST(RlsProtoTest, JsonDescriptorHitsAddendAbsentZeroAndPresent) {
  Result<RlsRequest> request = ParseRlsRequestJson(
      R"({"domain":"d","descriptors":[{"entries":[{"key":"a"}]},
                                      {"entries":[{"key":"b"}],"hitsAddend":0},
                                      {"entries":[{"key":"c"}],"hitsAddend":"18446744073709551615"}]})");
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  ASSERT_EQ(request->descriptors.size(), 3u);
  EXPECT_FALSE(request->descriptors[0].hits_addend.has_value());
  EXPECT_EQ(request->descriptors[0].entries[0].value, "");
  EXPECT_EQ(request->descriptors[1].hits_addend, std::optional<uint64_t>(0));
  EXPECT_EQ(request->descriptors[2].hits_addend, std::optional<uint64_t>(std::numeric_limits<uint64_t>::max()));
  EXPECT_EQ(request->hits_addend, 0u);
}

TEST(RlsProtoTest, JsonErrorsAreInvalidArgumentWithTheParsersReason) {
  struct Case {
    const char* json;
    const char* reason;
  };
  for (const Case& c : {
           Case{R"({"domain":"d","descriptors":[],"hitsAdend":1})", "hitsAdend"},
           Case{R"({"domain":"d","descriptors":[{"entries":[{"key":"k","valeu":"v"}]}]})", "valeu"},
           Case{R"({"domain":"d","descriptors":[{"entries":[{"key":"k"}],"limit":{"unit":"FORTNIGHT"}}]})",
                "FORTNIGHT"},
           Case{R"({"domain":"d","hitsAddend":-1})", "hits_addend"},
           Case{R"({"domain":"d","hitsAddend":4294967296})", "4294967296"},
           Case{R"({"domain":5})", "domain"},
           Case{R"({"domain":"d")", ""},
           Case{"", ""},
       }) {
    SCOPED_TRACE(c.json);
    Result<RlsRequest> request = ParseRlsRequestJson(c.json);
    ASSERT_FALSE(request.ok());
    EXPECT_EQ(request.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(request.status().message()), HasSubstr("invalid RateLimitRequest JSON"));
    EXPECT_THAT(std::string(request.status().message()), HasSubstr(c.reason));
  }
}

TEST(RlsProtoTest, JsonAcceptsWhatTheServiceChecksLater) {
  // Conversion only: an empty domain or no descriptors is the service's to
  // refuse.
  Result<RlsRequest> request = ParseRlsRequestJson("{}");
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(request->domain, "");
  EXPECT_TRUE(request->descriptors.empty());
}

RlsResponse SampleResponse() {
  RlsResponse response;
  response.overall_code = RlsCode::kOverLimit;
  response.statuses.push_back(
      DescriptorStatus(RlsCode::kOk, RlsRateLimit{.requests_per_unit = 10, .unit = RlsUnit::kMinute, .name = "per-user"},
                       9, std::chrono::seconds(42)));
  response.statuses.push_back(
      DescriptorStatus(RlsCode::kOverLimit, RlsRateLimit{.requests_per_unit = 1000, .unit = RlsUnit::kWeek, .name = ""},
                       0, std::chrono::milliseconds(1500)));
  response.statuses.push_back(DescriptorStatus(RlsCode::kOk));  // no rule matched
  response.response_headers_to_add.push_back({.key = "RateLimit-Limit", .value = "10"});
  response.request_headers_to_add.push_back({.key = "x-sluice", .value = "seen"});
  RlsMetadataValue metadata = Metadata(RlsMetadataValue::Kind::kObject);
  metadata.object.emplace_back("rule", MetadataString("r1"));
  RlsMetadataValue list = Metadata(RlsMetadataValue::Kind::kList);
  list.list.push_back(MetadataNumber(2.5));
  RlsMetadataValue yes = Metadata(RlsMetadataValue::Kind::kBool);
  yes.bool_value = true;
  list.list.push_back(yes);
  list.list.push_back(Metadata(RlsMetadataValue::Kind::kNull));
  list.list.push_back(MetadataNumber(std::numeric_limits<double>::quiet_NaN()));
  metadata.object.emplace_back("values", std::move(list));
  response.dynamic_metadata = std::move(metadata);
  return response;
}

TEST(RlsProtoTest, ResponseToProtoCarriesEveryField) {
  rls::RateLimitResponse proto;
  proto.set_raw_body("stale");  // ToProto replaces whatever was there
  ToProto(SampleResponse(), &proto);
  EXPECT_EQ(proto.overall_code(), rls::RateLimitResponse::OVER_LIMIT);
  EXPECT_TRUE(proto.raw_body().empty());
  ASSERT_EQ(proto.statuses_size(), 3);
  const auto& s0 = proto.statuses(0);
  EXPECT_EQ(s0.code(), rls::RateLimitResponse::OK);
  EXPECT_EQ(s0.current_limit().requests_per_unit(), 10u);
  EXPECT_EQ(s0.current_limit().unit(), rls::RateLimitResponse::RateLimit::MINUTE);
  EXPECT_EQ(s0.current_limit().name(), "per-user");
  EXPECT_EQ(s0.limit_remaining(), 9u);
  EXPECT_EQ(s0.duration_until_reset().seconds(), 42);
  EXPECT_EQ(s0.duration_until_reset().nanos(), 0);
  const auto& s1 = proto.statuses(1);
  EXPECT_EQ(s1.code(), rls::RateLimitResponse::OVER_LIMIT);
  EXPECT_EQ(s1.current_limit().unit(), rls::RateLimitResponse::RateLimit::WEEK);
  EXPECT_EQ(s1.duration_until_reset().seconds(), 1);
  EXPECT_EQ(s1.duration_until_reset().nanos(), 500'000'000);
  EXPECT_FALSE(proto.statuses(2).has_current_limit());
  EXPECT_FALSE(proto.statuses(2).has_duration_until_reset());
  ASSERT_EQ(proto.response_headers_to_add_size(), 1);
  EXPECT_EQ(proto.response_headers_to_add(0).key(), "RateLimit-Limit");
  EXPECT_EQ(proto.response_headers_to_add(0).value(), "10");
  ASSERT_EQ(proto.request_headers_to_add_size(), 1);
  EXPECT_EQ(proto.request_headers_to_add(0).key(), "x-sluice");
  const auto& fields = proto.dynamic_metadata().fields();
  ASSERT_EQ(fields.count("rule"), 1u);
  EXPECT_EQ(fields.at("rule").string_value(), "r1");
  const auto& values = fields.at("values").list_value().values();
  ASSERT_EQ(values.size(), 4);
  EXPECT_EQ(values[0].number_value(), 2.5);
  EXPECT_TRUE(values[1].bool_value());
  EXPECT_EQ(values[2].kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(values[3].kind_case(), google::protobuf::Value::kNullValue);  // NaN has no JSON form
}

TEST(RlsProtoTest, ResponseJsonMatchesEnvoyRatelimitsForm) {
  RlsResponse response;
  response.overall_code = RlsCode::kOverLimit;
  response.statuses.push_back(DescriptorStatus(
      RlsCode::kOverLimit, RlsRateLimit{.requests_per_unit = 10, .unit = RlsUnit::kMinute, .name = ""}, 0,
      std::chrono::seconds(42)));
  response.statuses.push_back(DescriptorStatus(RlsCode::kOk));
  // Default values are left out, as protojson.Marshal leaves them out.
  EXPECT_EQ(RlsResponseToJson(response),
            R"({"overallCode":"OVER_LIMIT","statuses":[{"code":"OVER_LIMIT","currentLimit":{"requestsPerUnit":10,)"
            R"("unit":"MINUTE"},"durationUntilReset":"42s"},{"code":"OK"}]})");
}

TEST(RlsProtoTest, ResponseJsonParsesBackToTheSameMessage) {
  rls::RateLimitResponse expected;
  ToProto(SampleResponse(), &expected);
  const std::string json = RlsResponseToJson(SampleResponse());
  EXPECT_THAT(json, HasSubstr(R"("durationUntilReset":"1.500s")"));
  EXPECT_THAT(json, HasSubstr(R"("unit":"WEEK")"));
  EXPECT_THAT(json, HasSubstr(R"("responseHeadersToAdd":[{"key":"RateLimit-Limit","value":"10"}])"));
  EXPECT_THAT(json, HasSubstr(R"("dynamicMetadata":{)"));
  rls::RateLimitResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  // Struct is a map: compare as messages, not as (unordered) bytes.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, expected)) << json;
}

TEST(RlsProtoTest, NegativeDurationKeepsOneSign) {
  RlsResponse response;
  response.statuses.push_back(DescriptorStatus(RlsCode::kOk, std::nullopt, 0, std::chrono::milliseconds(-1500)));
  rls::RateLimitResponse proto;
  ToProto(response, &proto);
  EXPECT_EQ(proto.statuses(0).duration_until_reset().seconds(), -1);
  EXPECT_EQ(proto.statuses(0).duration_until_reset().nanos(), -500'000'000);
  EXPECT_THAT(RlsResponseToJson(response), HasSubstr(R"("durationUntilReset":"-1.500s")"));
}

// The fast JSON paths must agree with protobuf's own parser and printer.
bool SameRequest(const RlsRequest& a, const RlsRequest& b) {
  if (a.domain != b.domain || a.hits_addend != b.hits_addend || a.descriptors.size() != b.descriptors.size()) {
    return false;
  }
  for (size_t i = 0; i < a.descriptors.size(); ++i) {
    const RlsDescriptor& x = a.descriptors[i];
    const RlsDescriptor& y = b.descriptors[i];
    if (x.entries.size() != y.entries.size() || x.hits_addend != y.hits_addend ||
        x.limit.has_value() != y.limit.has_value()) {
      return false;
    }
    if (x.limit && (x.limit->requests_per_unit != y.limit->requests_per_unit || x.limit->unit != y.limit->unit)) {
      return false;
    }
    for (size_t j = 0; j < x.entries.size(); ++j) {
      if (x.entries[j].key != y.entries[j].key || x.entries[j].value != y.entries[j].value) return false;
    }
  }
  return true;
}

TEST(RlsProtoTest, FastJsonParsingAgreesWithProtobuf) {
  const char* cases[] = {
      R"({"domain":"d","descriptors":[{"entries":[{"key":"remote_address","value":"1.2.3.4"}]}],"hitsAddend":1})",
      R"({"domain":"d","descriptors":[{"entries":[{"key":"a"}]},{"entries":[{"key":"b","value":"c"}],"hitsAddend":0}]})",
      R"({"domain":"d","hits_addend":7,"descriptors":[{"entries":[{"key":"k","value":"v"}],"limit":{"requestsPerUnit":5,"unit":"HOUR"}}]})",
      R"({"domain":"d","descriptors":[{"entries":[{"key":"k","value":"v"}],"limit":{"requests_per_unit":5,"unit":"YEAR"}}]})",
      R"({"domain":"\u00e9t\u00e9","descriptors":[{"entries":[{"key":"k","value":"a\"b"}],"hits_addend":18446744073}]})",
      // Forms the fast path hands to protobuf: still the same answers.
      R"({"domain":"d","hitsAddend":"3","descriptors":[{"entries":[{"key":"k","value":"v"}]}]})",
      R"({"domain":"d","descriptors":[{"entries":[{"key":"k","value":"v"}],"limit":{"unit":2}}]})",
      R"({"domain":null,"descriptors":[]})",
      R"({"domain":"d","descriptors":[{"entries":[{"key":"k","value":"v"}],"hitsAddend":"0"}]})",
  };
  for (const char* json : cases) {
    Result<RlsRequest> fast = ParseRlsRequestJson(json);
    Result<RlsRequest> slow = ParseRlsRequestJsonViaProtobuf(json);
    ASSERT_EQ(fast.ok(), slow.ok()) << json << " " << slow.status().ToString();
    if (slow.ok()) {
      EXPECT_TRUE(SameRequest(*fast, *slow)) << json;
    }
  }
  const char* rejected[] = {
      R"({"domain":"d","descriptors":[{"entries":[{"key":"k","value":"v"}]}],"hitsAdend":1})",
      R"({"domain":"d","descriptors":[{"entries":[{"key":"k","value":"v"}]}],"hitsAddend":-1})",
      R"({"domain":"d","descriptors":[{"entries":[{"key":"k","value":"v"}],"limit":{"unit":"WEEK"}}]})",
      R"({"domain":"d","descriptors":[{"entries":[{"key":"k","valu":"v"}]}]})",
      R"({"domain":5})",
      R"({"domain":"d",)",
  };
  for (const char* json : rejected) {
    Result<RlsRequest> fast = ParseRlsRequestJson(json);
    ASSERT_FALSE(fast.ok()) << json;
    EXPECT_EQ(fast.status().code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(ParseRlsRequestJsonViaProtobuf(json).ok()) << json;
  }
}

TEST(RlsProtoTest, FastJsonParsingAgreesWithProtobufOnMutations) {
  // Random edits of typical requests: whatever the fast path accepts must
  // read as protobuf reads it, and what it declines gets protobuf's answer.
  const std::vector<std::string> corpus = {
      R"({"domain":"d","descriptors":[{"entries":[{"key":"remote_address","value":"1.2.3.4"}]}],"hitsAddend":1})",
      R"({"domain":"d","descriptors":[{"entries":[{"key":"a"}]},{"entries":[{"key":"b","value":"c"}],"hitsAddend":0}]})",
      R"({"domain":"d","hits_addend":7,"descriptors":[{"entries":[{"key":"k","value":"v"}],"limit":{"requestsPerUnit":5,"unit":"HOUR"}}]})",
      R"( { "domain" : "d" , "descriptors" : [ { "entries" : [ { "key" : "k" , "value" : "v" } ] } ] } )",
  };
  const std::vector<std::string> pieces = {
      "\"", "\\", "{", "}", "[", "]", ",", ":", " ", "0", "1", "9", "-", ".5", "e3", "null", "\"x\"",
      "\"unit\"", "\"SECOND\"", "\"WEEK\"", "\"hitsAddend\"", "\"hits_addend\"", "\"limit\"",
      "\"domain\"", "\"entries\"", "\"key\"", "\"value\"", "\xc3\xa9", "\xff", "4294967296", "\\u0041",
  };
  std::mt19937_64 rng(20261202);
  int fast_and_ok = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string json = corpus[rng() % corpus.size()];
    MutateJson(rng, pieces, 1 + static_cast<int>(rng() % 2), &json);
    Result<RlsRequest> fast = ParseRlsRequestJson(json);
    Result<RlsRequest> slow = ParseRlsRequestJsonViaProtobuf(json);
    ASSERT_EQ(fast.ok(), slow.ok()) << "iteration " << i << ": " << json << " "
                                    << (fast.ok() ? slow.status().ToString() : fast.status().ToString());
    if (slow.ok()) {
      ASSERT_TRUE(SameRequest(*fast, *slow)) << "iteration " << i << ": " << json;
      ++fast_and_ok;
    }
  }
  EXPECT_GT(fast_and_ok, 500);  // enough edits leave a valid request to compare
}

TEST(RlsProtoTest, FastJsonPrintingAgreesWithProtobuf) {
  std::vector<RlsResponse> responses;
  RlsResponse a;
  a.overall_code = RlsCode::kOverLimit;
  RlsDescriptorStatus s1;
  s1.code = RlsCode::kOverLimit;
  s1.current_limit = RlsRateLimit{5, RlsUnit::kMinute, ""};
  s1.duration_until_reset = std::chrono::seconds(36);
  RlsDescriptorStatus s2;
  s2.code = RlsCode::kOk;
  RlsDescriptorStatus s3;
  s3.code = RlsCode::kOk;
  s3.current_limit = RlsRateLimit{100, RlsUnit::kWeek, "per \"week\""};
  s3.limit_remaining = 99;
  s3.duration_until_reset = std::chrono::nanoseconds(35'619'809'276);
  RlsDescriptorStatus s4 = s3;
  s4.duration_until_reset = std::chrono::milliseconds(1500);
  RlsDescriptorStatus s5 = s3;
  s5.duration_until_reset = std::chrono::microseconds(2'000'001);
  RlsDescriptorStatus s6 = s3;
  s6.current_limit = RlsRateLimit{0, RlsUnit::kUnknown, ""};
  s6.limit_remaining = std::numeric_limits<uint32_t>::max();
  s6.duration_until_reset = std::chrono::nanoseconds(0);
  a.statuses = {s1, s2, s3, s4, s5, s6};
  a.response_headers_to_add = {{"RateLimit-Policy", "\"user\";q=5;w=60"}, {"Retry-After", "36"}, {"X-Empty", ""}};
  a.request_headers_to_add = {{"x-sluice", "1"}};
  responses.push_back(a);
  responses.push_back(RlsResponse{});  // overall OK, nothing else
  RlsResponse unknown;
  unknown.overall_code = RlsCode::kUnknown;
  responses.push_back(unknown);
  for (const RlsResponse& r : responses) {
    EXPECT_EQ(RlsResponseToJson(r), RlsResponseToJsonViaProtobuf(r));
  }
}

}  // namespace
}  // namespace sluice::daemon
