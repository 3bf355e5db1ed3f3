#include "common/clock.h"

namespace nas {

Clock* Clock::Real() {
  static Clock* clock = new RealClock();
  return clock;
}

}  // namespace nas
