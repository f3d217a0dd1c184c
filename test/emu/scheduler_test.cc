// Tests of the deterministic scheduler: lowest clock first, exact event delivery, same-cycle
// ordering, wake-up of waiting agents, causality, deadlock, and reproducibility.
#include "emu/sched/scheduler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace snpemu {
namespace {

// A fake core: each "instruction" costs `step` cycles. It records every run and delivery into a
// shared log so tests can assert the exact interleaving.
class FakeAgent : public Agent {
 public:
  FakeAgent(std::string name, uint64_t step, std::vector<std::string>& log)
      : name_(std::move(name)), step_(step), log_(log) {}

  uint64_t clock() const override { return clock_; }
  void skip_to(uint64_t cycle) override {
    log_.push_back(name_ + " skip " + std::to_string(clock_) + "->" + std::to_string(cycle));
    clock_ = cycle;
  }
  AgentRun run(uint64_t limit) override {
    const uint64_t start = clock_;
    while (clock_ < limit) {
      clock_ += step_;
      if (wait_at_ != 0 && clock_ >= wait_at_) {
        wait_at_ = 0;
        log_.push_back(name_ + " run " + std::to_string(start) + "-" + std::to_string(clock_) +
                       " wait");
        return AgentRun::kWaiting;
      }
      if (stop_at_ != 0 && clock_ >= stop_at_) {
        log_.push_back(name_ + " run " + std::to_string(start) + "-" + std::to_string(clock_) +
                       " stop");
        return AgentRun::kStopped;
      }
    }
    log_.push_back(name_ + " run " + std::to_string(start) + "-" + std::to_string(clock_));
    return AgentRun::kRanToLimit;
  }
  void deliver(const Event& e) override {
    log_.push_back(name_ + " event kind " + std::to_string(e.kind) + " at " + std::to_string(e.at) +
                   " clock " + std::to_string(clock_));
  }

  uint64_t wait_at_ = 0;
  uint64_t stop_at_ = 0;

 private:
  std::string name_;
  uint64_t step_;
  uint64_t clock_ = 0;
  std::vector<std::string>& log_;
};

TEST(Scheduler, LowestClockRunsFirstTiesGoToLowerId) {
  std::vector<std::string> log;
  FakeAgent a("A", 3, log), b("B", 4, log);
  Scheduler s(10);
  s.add(a);
  s.add(b);
  EXPECT_EQ(s.run_until(24), ScheduleStop::kReachedLimit);
  const std::vector<std::string> want = {
      "A run 0-12",   // both at 0: lower id first
      "B run 0-12",   // B (0) < A (12)
      "A run 12-24",  // tie at 12 -> A
      "B run 12-24",
  };
  EXPECT_EQ(log, want);
}

TEST(Scheduler, EventIsDeliveredWhenTheTargetClockReachesItsStamp) {
  std::vector<std::string> log;
  FakeAgent a("A", 1, log);
  Scheduler s(100);
  s.add(a);
  s.post(Event{25, 0, 0, 0, 7, 0});
  s.run_until(50);
  const std::vector<std::string> want = {"A run 0-25", "A event kind 7 at 25 clock 25",
                                         "A run 25-50"};
  EXPECT_EQ(log, want);
}

TEST(Scheduler, SameCycleEventsGoByPriorityThenPostingOrder) {
  std::vector<std::string> log;
  FakeAgent a("A", 1, log);
  Scheduler s(100);
  s.add(a);
  s.post(Event{10, 2, 0, 0, 1, 0});
  s.post(Event{10, 1, 0, 0, 2, 0});
  s.post(Event{10, 2, 0, 0, 3, 0});
  s.post(Event{10, 1, 0, 0, 4, 0});
  s.run_until(11);
  const std::vector<std::string> want = {
      "A run 0-10",
      "A event kind 2 at 10 clock 10",
      "A event kind 4 at 10 clock 10",
      "A event kind 1 at 10 clock 10",
      "A event kind 3 at 10 clock 10",
      "A run 10-11",
  };
  EXPECT_EQ(log, want);
  EXPECT_EQ(s.pending_events(), 0u);
}

TEST(Scheduler, WaitingAgentSleepsUntilItsEventThenJumpsToIt) {
  std::vector<std::string> log;
  FakeAgent a("A", 5, log), b("B", 10, log);
  a.wait_at_ = 5;  // A halts at cycle 5
  Scheduler s(40);
  s.add(a);
  s.add(b);
  s.post(Event{60, 0, 0, 0, 9, 0});  // wakes A at 60
  EXPECT_EQ(s.run_until(100), ScheduleStop::kReachedLimit);
  const std::vector<std::string> want = {
      "A run 0-5 wait", "B run 0-40",
      "B run 40-80",  // B (40) is earlier than A's wake-up (60)
      "A skip 5->60",   "A event kind 9 at 60 clock 60",
      "A run 60-100",   "B run 80-100",
  };
  EXPECT_EQ(log, want);
  EXPECT_FALSE(s.waiting(0));
}

TEST(Scheduler, LateEventIsDeliveredAtTheTargetsCurrentClock) {
  std::vector<std::string> log;
  FakeAgent a("A", 50, log);
  Scheduler s(50);
  s.add(a);
  s.run_until(50);  // A is now at 50
  log.clear();
  s.post(Event{20, 0, 0, 0, 3, 0});  // posted for a time A has passed
  s.run_until(60);
  EXPECT_EQ(log.front(), "A event kind 3 at 20 clock 50");
}

TEST(Scheduler, AllWaitingWithNoEventIsDeadlockAndAllStoppedIsReported) {
  std::vector<std::string> log;
  FakeAgent a("A", 1, log), b("B", 1, log);
  a.wait_at_ = 3;
  b.stop_at_ = 4;
  Scheduler s(10);
  s.add(a);
  s.add(b);
  EXPECT_EQ(s.run_until(1000), ScheduleStop::kDeadlock);
  EXPECT_TRUE(s.waiting(0));
  EXPECT_TRUE(s.stopped(1));

  FakeAgent c("C", 1, log);
  c.stop_at_ = 2;
  Scheduler t(10);
  t.add(c);
  EXPECT_EQ(t.run_until(1000), ScheduleStop::kAllStopped);
}

TEST(Scheduler, SameInputsGiveTheSameSchedule) {
  auto run = [] {
    std::vector<std::string> log;
    FakeAgent a("A", 3, log), b("B", 7, log), c("C", 5, log);
    b.wait_at_ = 30;
    Scheduler s(16);
    s.add(a);
    s.add(b);
    s.add(c);
    s.post(Event{90, 1, 0, 1, 1, 0});
    s.post(Event{45, 0, 0, 2, 2, 0});
    s.run_until(200);
    return log;
  };
  const auto first = run();
  EXPECT_EQ(first, run());
  EXPECT_GT(first.size(), 20u);
}

}  // namespace
}  // namespace snpemu
