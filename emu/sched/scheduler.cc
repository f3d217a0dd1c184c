// emu/sched/scheduler.cc
#include "emu/sched/scheduler.h"

#include <algorithm>
#include <cassert>
#include <limits>

namespace snpemu {

Scheduler::Scheduler(uint64_t quantum) : quantum_(quantum == 0 ? 1 : quantum) {}

uint32_t Scheduler::add(Agent& agent) {
  slots_.push_back(Slot{&agent, State::kRunnable});
  return static_cast<uint32_t>(slots_.size() - 1);
}

uint64_t Scheduler::post(Event event) {
  event.seq = next_seq_++;
  events_.insert(event);
  return event.seq;
}

const Event* Scheduler::next_event_for(uint32_t id) const {
  // Events are few (inter-core signals); a linear scan in key order is deterministic and cheap.
  for (const Event& e : events_) {
    if (e.target == id) return &e;
  }
  return nullptr;
}

void Scheduler::deliver_due(uint32_t id) {
  Slot& slot = slots_[id];
  for (auto it = events_.begin(); it != events_.end();) {
    if (it->target != id || it->at > slot.agent->clock()) {
      ++it;
      continue;
    }
    const Event e = *it;
    it = events_.erase(it);
    if (slot.state == State::kStopped) continue;  // a stopped agent drops its events
    if (slot.state == State::kWaiting) slot.state = State::kRunnable;
    slot.agent->deliver(e);
  }
}

ScheduleStop Scheduler::run_until(uint64_t limit) {
  for (;;) {
    // Deliver what is due (including late events, per the causality rule).
    for (uint32_t id = 0; id < slots_.size(); ++id) deliver_due(id);

    // Pick the runnable agent with the lowest clock below the limit; ties to the lower id.
    uint32_t pick = std::numeric_limits<uint32_t>::max();
    uint64_t pick_clock = std::numeric_limits<uint64_t>::max();
    for (uint32_t id = 0; id < slots_.size(); ++id) {
      const Slot& s = slots_[id];
      if (s.state != State::kRunnable) continue;
      const uint64_t c = s.agent->clock();
      if (c < limit && c < pick_clock) {
        pick = id;
        pick_clock = c;
      }
    }

    // The earliest event for a waiting agent competes with the runnable agents' clocks.
    const Event* wake = nullptr;
    for (const Event& e : events_) {
      if (slots_[e.target].state == State::kWaiting) {
        wake = &e;
        break;
      }
    }
    if (wake != nullptr && wake->at < limit &&
        (pick == std::numeric_limits<uint32_t>::max() || wake->at < pick_clock)) {
      Slot& s = slots_[wake->target];
      const uint32_t target = wake->target;
      s.agent->skip_to(std::max(s.agent->clock(), wake->at));
      deliver_due(target);
      continue;
    }

    if (pick == std::numeric_limits<uint32_t>::max()) {
      bool any_live = false, any_runnable = false;
      for (const Slot& s : slots_) {
        any_live |= s.state != State::kStopped;
        any_runnable |= s.state == State::kRunnable;
      }
      if (!any_live) return ScheduleStop::kAllStopped;
      if (any_runnable || (wake != nullptr && wake->at >= limit)) {
        return ScheduleStop::kReachedLimit;
      }
      return ScheduleStop::kDeadlock;
    }

    // Run one quantum, never past the agent's next event nor the limit.
    uint64_t until = std::min(limit, pick_clock + quantum_);
    if (const Event* next = next_event_for(pick)) until = std::min(until, next->at);
    Slot& slot = slots_[pick];
    const AgentRun r = slot.agent->run(std::max(until, pick_clock + 1));
    if (r == AgentRun::kWaiting) slot.state = State::kWaiting;
    if (r == AgentRun::kStopped) slot.state = State::kStopped;
  }
}

}  // namespace snpemu
