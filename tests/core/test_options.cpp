// The parameter registry on a toy settings struct: bounds, parsing, names, JSON, includes.
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "woundphase/options_json.h"

namespace woundphase {
namespace {

enum class Colour { kRed, kGreen };
const char* to_string(Colour c) { return c == Colour::kRed ? "red" : "green"; }

struct Inner {
  double rate = 0.5;
  int threads = 2;
};

struct Toy {
  int count = 10;
  double fraction = 0.25;
  bool flag = false;
  std::string name = "x";
  Colour colour = Colour::kRed;
  int size = 64;
  unsigned long long seed = 42;
  Inner inner;
};

const OptionTable<Inner>& inner_table() {
  static const OptionTable<Inner> t = [] {
    OptionTable<Inner> t;
    t.add("--rate", &Inner::rate, "a rate").range(0, 1).open_low();
    t.add("--threads", &Inner::threads, "threads").range(1, 256).run_context();
    return t;
  }();
  return t;
}

const OptionTable<Toy>& toy_table() {
  static const OptionTable<Toy> t = [] {
    OptionTable<Toy> t;
    t.add("--count", &Toy::count, "how many").range(1, 100);
    t.add("--fraction", &Toy::fraction, "a share").range(0, 1).open_low().open_high();
    t.add("--flag", &Toy::flag, "a switch");
    t.add("--name", &Toy::name, "a name").json_key("label");
    t.add_choice("--colour", &Toy::colour, {Colour::kRed, Colour::kGreen}, "a colour");
    t.add("--size", &Toy::size, "a side").one_of(std::array<int, 3>{32, 64, 128});
    t.add("--seed", &Toy::seed, "a seed").context();
    t.include(inner_table(), &Toy::inner);
    return t;
  }();
  return t;
}

std::string message(const Toy& toy) {
  try {
    toy_table().validate(toy);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Options, DefaultsPassAndEachBoundNamesItsFlag) {
  Toy toy;
  EXPECT_EQ(message(toy), "");
  toy.count = 0;
  EXPECT_EQ(message(toy), "--count must be in [1, 100], got 0");
  toy = Toy{};
  toy.fraction = 1;  // open above
  EXPECT_EQ(message(toy), "--fraction must be in (0, 1), got 1");
  toy.fraction = std::nan("");
  EXPECT_EQ(message(toy), "--fraction must be in (0, 1), got nan");
  toy = Toy{};
  toy.size = 48;
  EXPECT_EQ(message(toy), "--size must be 32, 64 or 128, got 48");
  toy = Toy{};
  toy.inner.rate = 0;  // an included table's bound, through the member
  EXPECT_EQ(message(toy), "--rate must be in (0, 1], got 0");
  toy = Toy{};
  toy.inner.threads = 0;  // internal knobs are checked too
  EXPECT_EQ(message(toy), "--threads must be in [1, 256], got 0");
}

TEST(Options, ParsesTextAndRejectsMalformedValuesNamingTheFlag) {
  const auto& t = toy_table();
  Toy toy;
  t.find("--count")->set(toy, t.find("--count")->parse("7"));
  t.find("--fraction")->set(toy, t.find("--fraction")->parse("0.75"));
  t.find("--flag")->set(toy, t.find("--flag")->parse("true"));
  t.find("--colour")->set(toy, t.find("--colour")->parse("green"));
  t.find("--rate")->set(toy, t.find("--rate")->parse("0.125"));
  EXPECT_EQ(toy.count, 7);
  EXPECT_EQ(toy.fraction, 0.75);
  EXPECT_TRUE(toy.flag);
  EXPECT_EQ(toy.colour, Colour::kGreen);
  EXPECT_EQ(toy.inner.rate, 0.125);
  EXPECT_THROW(t.find("--count")->parse("7x"), InputError);
  EXPECT_THROW(t.find("--count")->parse(""), InputError);
  EXPECT_THROW(t.find("--fraction")->parse("abc"), InputError);
  try {
    t.find("--colour")->parse("blue");
    FAIL() << "blue accepted";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--colour must be one of red, green; got 'blue'");
  }
}

TEST(Options, JsonHoldsTheRecordedOwnKnobsAndReadsBack) {
  const auto& t = toy_table();
  Toy toy;
  toy.count = 3;
  toy.colour = Colour::kGreen;
  toy.name = "y";
  const nlohmann::json j = options_to_json(t, toy);
  EXPECT_EQ(j.at("count"), 3);
  EXPECT_EQ(j.at("colour"), "green");
  EXPECT_EQ(j.at("label"), "y");     // its own JSON key
  EXPECT_FALSE(j.contains("seed"));  // run context: not recorded
  EXPECT_FALSE(j.contains("rate"));  // an included part is the caller's to nest
  EXPECT_TRUE(options_to_json(t, toy, true).contains("seed"));
  Toy back;
  options_from_json(t, back, j);
  EXPECT_EQ(back.count, 3);
  EXPECT_EQ(back.colour, Colour::kGreen);
  EXPECT_EQ(back.name, "y");
  EXPECT_THROW(options_from_json(t, back, {{"colour", "blue"}}), InputError);
  EXPECT_THROW(options_from_json(t, back, {{"count", "three"}}), InputError);
  EXPECT_THROW(options_from_json(t, back, {{"count", 2.5}}), InputError);
  EXPECT_THROW(options_from_json(t, back, {}, /*required=*/true), std::out_of_range);
}

TEST(Options, TextAndBoundsAreWhatTheHelpAndReadmeShow) {
  const auto& t = toy_table();
  const Toy toy;
  EXPECT_EQ(t.find("--fraction")->text(toy), "0.25");
  EXPECT_EQ(t.find("--colour")->text(toy), "red");
  EXPECT_EQ(t.find("--flag")->text(toy), "false");
  EXPECT_EQ(t.find("--count")->bound_text(), "[1, 100]");
  EXPECT_EQ(t.find("--colour")->bound_text(), "red | green");
  EXPECT_EQ(t.find("--name")->bound_text(), "");
}

}  // namespace
}  // namespace woundphase
