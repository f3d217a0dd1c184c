// emu/sched/scheduler.h: deterministic multi-core scheduling on absolute cycle stamps.
//
// Rules (ARCHITECTURE.md "Time", STYLE rule 9):
// - Each agent (a core) has its own 64-bit cycle clock. The scheduler always runs the runnable
//   agent whose clock is lowest, ties going to the lower agent id, for at most one quantum.
// - Events between agents (IPIs, INIT/SIPI, timers) carry an absolute cycle stamp. An event is
//   delivered to its target when the target's clock reaches the stamp; events due at the same
//   cycle are delivered by priority (lower first), then by posting order (sequence number).
// - A quantum never runs past the target's next due event, so delivery is cycle-exact.
// - An agent ends its quantum early after an act other agents can see (it returns kYield).
// - A waiting agent (halted) does not run; when its next event becomes the earliest thing
//   in the machine, its clock jumps to the event's stamp and the event is delivered.
// - Causality: an event posted for a time the target has already passed (the target ran ahead
//   within its quantum) is delivered at the target's current clock. The skew this allows is
//   bounded by the quantum.
// Nothing here reads a host clock or depends on host iteration order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <tuple>
#include <vector>

namespace snpemu {

/// Something delivered to an agent at an exact cycle.
struct Event {
  uint64_t at = 0;       // absolute cycle stamp
  uint8_t priority = 0;  // among events due at the same cycle, lower first
  uint64_t seq = 0;      // assigned by the scheduler: posting order
  uint32_t target = 0;   // agent id
  uint32_t kind = 0;     // meaning belongs to the agent (e.g. INIT, SIPI, fixed IPI)
  uint64_t payload = 0;

  auto key() const { return std::tuple(at, priority, seq); }
};

/// What an agent's run returned.
enum class AgentRun : uint8_t {
  kRanToLimit,  // reached the cycle limit it was given
  kYield,       // did something other agents can see; let the scheduler pick again
  kWaiting,     // halted until an event arrives
  kStopped,     // will never run again (shutdown, exit)
};

/// A schedulable agent: a core, or a test double.
class Agent {
 public:
  virtual ~Agent() = default;
  /// The agent's clock (absolute cycles).
  virtual uint64_t clock() const = 0;
  /// Advances a waiting agent's clock to `cycle` (>= clock()) without running it.
  virtual void skip_to(uint64_t cycle) = 0;
  /// Runs until the clock reaches `limit` or the agent stops early.
  virtual AgentRun run(uint64_t limit) = 0;
  /// Delivers an event; called when the agent's clock has reached event.at (or later, see
  /// the causality rule). A waiting agent may become runnable.
  virtual void deliver(const Event& event) = 0;
};

/// Why Scheduler::run_until returned.
enum class ScheduleStop : uint8_t {
  kReachedLimit,  // every live agent's clock reached the limit
  kAllStopped,    // no agent will ever run again
  kDeadlock,      // every live agent waits and no event is pending
};

class Scheduler {
 public:
  /// `quantum`: the most cycles one agent runs before the scheduler picks again (> 0).
  explicit Scheduler(uint64_t quantum);

  /// Adds an agent; ids are 0, 1, 2, ... in the order added. The agent must outlive the
  /// scheduler. Agents start runnable.
  uint32_t add(Agent& agent);

  /// Queues an event; returns its sequence number.
  uint64_t post(Event event);

  /// Runs agents until every live agent's clock is >= `limit`, all stopped, or deadlock.
  ScheduleStop run_until(uint64_t limit);

  /// Number of events not yet delivered.
  size_t pending_events() const { return events_.size(); }
  /// True if the agent stopped for good.
  bool stopped(uint32_t id) const { return slots_[id].state == State::kStopped; }
  /// True if the agent waits for an event.
  bool waiting(uint32_t id) const { return slots_[id].state == State::kWaiting; }

 private:
  enum class State : uint8_t { kRunnable, kWaiting, kStopped };
  struct Slot {
    Agent* agent;
    State state;
  };
  struct EventOrder {
    bool operator()(const Event& a, const Event& b) const { return a.key() < b.key(); }
  };

  // The earliest pending event for `id`, or nullptr.
  const Event* next_event_for(uint32_t id) const;
  // Delivers every event for `id` that is due at or before the agent's clock.
  void deliver_due(uint32_t id);

  uint64_t quantum_;
  uint64_t next_seq_ = 0;
  std::vector<Slot> slots_;
  std::set<Event, EventOrder> events_;
};

}  // namespace snpemu
