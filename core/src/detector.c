/* detector.c: heartbeat arrival tracking and phi (see detector.h). */
#include "detector.h"

/* The mean follows about the last 100 intervals: at the default interval
 * that is under a minute of history, so a member whose rhythm changes (a
 * loaded host, a bigger cluster) is re-learned quickly, yet one late beat
 * moves the mean by 1% only. */
#define WINDOW 100
/* The prior counts as 5 intervals (chitchat's additive smoothing): enough
 * that the first beats, which arrive in bursts while a node joins, do not
 * make the detector trigger-happy. */
#define PRIOR_WEIGHT 5.0
/* ln 10: phi = t / (mean * ln 10). */
#define LN10 2.302585092994046

void rumor__detector_start(rumor_detector *d, uint64_t now) {
  if (d->last == 0) d->last = now ? now : 1;
}

void rumor__detector_watch(rumor_detector *d, uint64_t from) {
  if (d->last < from) d->last = from ? from : 1;
}

void rumor__detector_reset(rumor_detector *d, uint64_t now) {
  d->last = now ? now : 1;
  d->mean = 0;
  d->samples = 0;
}

void rumor__detector_beat(rumor_detector *d, uint64_t now, uint64_t max_interval_ms) {
  if (d->last != 0 && now >= d->last) {
    uint64_t interval = now - d->last;
    if (interval <= max_interval_ms) {
      if (d->samples < WINDOW) d->samples++;
      d->mean += ((double)interval - d->mean) / (double)d->samples;
    }
  }
  d->last = now ? now : 1;
}

uint64_t rumor__detector_age(const rumor_detector *d, uint64_t now) {
  return (d->last == 0 || now <= d->last) ? 0 : now - d->last;
}

double rumor__detector_phi(const rumor_detector *d, uint64_t now, uint64_t prior_ms) {
  double mean = (d->mean * d->samples + (double)prior_ms * PRIOR_WEIGHT) /
                ((double)d->samples + PRIOR_WEIGHT);
  if (mean < 1.0) mean = 1.0; /* beats within the same millisecond */
  return (double)rumor__detector_age(d, now) / (mean * LN10);
}

void rumor__detector_shift(rumor_detector *d, uint64_t ms, uint64_t now) {
  if (d->last == 0 || now <= d->last) return;
  d->last = (now - d->last > ms) ? d->last + ms : now;
}
