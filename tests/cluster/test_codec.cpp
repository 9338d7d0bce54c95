// The distributed search's messages without MPI: every kind survives encode -> decode exactly,
// and a truncated, corrupted or foreign buffer is refused with a CodecError naming the kind.
#include <gtest/gtest.h>

#include <cmath>  // for NAN

#include "cluster/codec.h"
#include "fixtures/job_records.h"

namespace woundphase::testing {
namespace {

// The CodecError `decode` throws for `bytes`; "" when it decodes.
template <typename Decode>
std::string decode_error(Decode decode, const std::string& bytes) {
  try {
    decode(bytes);
  } catch (const CodecError& e) {
    return e.what();
  }
  return "";
}

// Every proper prefix of `bytes` (the empty one included) is refused, naming the kind.
template <typename Decode>
void expect_prefixes_refused(Decode decode, const std::string& bytes, const std::string& kind) {
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string error = decode_error(decode, bytes.substr(0, n));
    ASSERT_NE(error.find("a " + kind + " message of " + std::to_string(n) + " bytes"),
              std::string::npos)
        << "prefix of " << n << " of " << bytes.size() << " bytes: '" << error << "'";
  }
}

TEST(Codec, JobOrdersRoundTrip) {
  for (JobOrderKind kind : {JobOrderKind::kBranch, JobOrderKind::kCombination}) {
    JobOrder order;
    order.id = 17;
    order.kind = kind;
    order.run = 2;
    order.fold = 4;
    order.modality = Modality::kThermalRgb;
    order.combination = 6;
    const JobOrder back = decode_order(encode_order(order));
    EXPECT_EQ(back.id, 17);
    EXPECT_EQ(back.kind, kind);
    EXPECT_EQ(back.run, 2);
    EXPECT_EQ(back.fold, 4);
    EXPECT_EQ(back.modality, Modality::kThermalRgb);
    EXPECT_EQ(back.combination, 6);
  }
}

TEST(Codec, CombinationOutcomeCarriesTheJobExactly) {
  JobOutcome outcome;
  outcome.id = 3;
  outcome.seconds = 0.1 + 0.2;  // not a short decimal: every bit must travel
  outcome.record = sample_job(1, 0, "metadata+depth_rgb");
  const JobOutcome back = decode_outcome(encode_outcome(outcome));
  EXPECT_EQ(back.id, 3);
  EXPECT_EQ(back.seconds, outcome.seconds);
  ASSERT_TRUE(back.record.has_value());
  expect_same_job(*outcome.record, *back.record);
  EXPECT_EQ(back.record->attempt, outcome.record->attempt);
}

TEST(Codec, BranchOutcomeHasNoRecord) {
  JobOutcome outcome;
  outcome.id = 0;
  outcome.seconds = 12.5;
  const JobOutcome back = decode_outcome(encode_outcome(outcome));
  EXPECT_EQ(back.id, 0);
  EXPECT_EQ(back.seconds, 12.5);
  EXPECT_FALSE(back.record.has_value());
}

TEST(Codec, FailuresAndStartRecordsRoundTrip) {
  const WorkerFailure failure = decode_failure(encode_failure({"study.csv:3: bad field", 2}));
  EXPECT_EQ(failure.message, "study.csv:3: bad field");
  EXPECT_EQ(failure.exit_code, 2);
  const nlohmann::json start = {
      {"settings", {{"cv_folds", 5}, {"alpha", NAN}}}, {"fingerprint", "abc"}, {"rows", 208}};
  const nlohmann::json back = decode_start(encode_start(start));
  EXPECT_EQ(back.at("fingerprint"), "abc");
  EXPECT_EQ(back.at("rows"), 208);
  EXPECT_EQ(back.at("settings").at("cv_folds"), 5);
  EXPECT_TRUE(std::isnan(back.at("settings").at("alpha").get<double>()));
}

TEST(Codec, TruncatedMessagesAreRefused) {
  JobOrder order;
  order.id = 5;
  expect_prefixes_refused(decode_order, encode_order(order), "job");
  JobOutcome outcome;
  outcome.id = 1;
  outcome.record = sample_job(0, 0, "metadata");
  expect_prefixes_refused(decode_outcome, encode_outcome(outcome), "result");
  expect_prefixes_refused(decode_failure, encode_failure({"disk full", 1}), "failure");
  expect_prefixes_refused(
      decode_start,
      encode_start({{"settings", nlohmann::json::object()}, {"fingerprint", "f"}, {"rows", 3}}),
      "start");
}

TEST(Codec, CorruptedAndForeignBuffersAreRefused) {
  JobOrder order;
  order.id = 9;
  const std::string bytes = encode_order(order);
  // Trailing bytes, a message that is not MessagePack, and each kind decoded as another kind.
  EXPECT_NE(decode_error(decode_order, bytes + "x").find("a job message of"), std::string::npos);
  EXPECT_NE(decode_error(decode_outcome, "\xc1 not msgpack").find("a result message"),
            std::string::npos);
  EXPECT_NE(decode_error(decode_outcome, bytes).find("a result message"), std::string::npos);
  EXPECT_NE(decode_error(decode_order, encode_failure({"x", 1})).find("a job message"),
            std::string::npos);
  EXPECT_NE(decode_error(decode_start, bytes).find("not a start record"), std::string::npos);
  // Every single-byte change of a job order either decodes to a valid order or is refused: never
  // an exception of another type.
  for (size_t i = 0; i < bytes.size(); ++i)
    for (int flip : {0x01, 0x80, 0xFF}) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(damaged[i] ^ flip);
      try {
        const JobOrder o = decode_order(damaged);
        EXPECT_GE(o.id, 0);
        EXPECT_LE(static_cast<int>(o.modality), static_cast<int>(Modality::kThermalRgb));
      } catch (const CodecError&) {
      }
    }
}

TEST(Codec, OutOfRangeFieldsAreRefused) {
  JobOrder order;
  order.run = -1;
  EXPECT_NE(decode_error(decode_order, encode_order(order)).find("field 'run' is -1"),
            std::string::npos);
  order.run = 0;
  order.modality = static_cast<Modality>(9);
  EXPECT_NE(decode_error(decode_order, encode_order(order)).find("unknown modality 9"),
            std::string::npos);
  // A prediction row with two probabilities instead of three.
  JobOutcome outcome;
  outcome.record = sample_job(0, 0, "metadata");
  nlohmann::json j = nlohmann::json::from_msgpack(encode_outcome(outcome));
  j["record"]["test"][0][4] = {0.5, 0.5};
  const std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(j);
  EXPECT_NE(decode_error(decode_outcome, std::string(bytes.begin(), bytes.end()))
                .find("a result message"),
            std::string::npos);
}

}  // namespace
}  // namespace woundphase::testing
