/* detector.h: what one observer knows of one member's heartbeat rhythm, and
 * the two failure detectors built on it.
 *
 * Expiration: the member is gone once its heartbeat has not advanced for
 * heartbeat_expiration_ms (protoactor's rule).
 * Phi accrual (Hayashibara et al.; Cassandra's exponential form): with a
 * mean inter-arrival time m learned from the member's own beats, the chance
 * of a silence of t ms is e^(-t/m), and phi = -log10 of it = t / (m ln 10).
 * phi 8 means "a silence this long happens once in 10^8 rhythms". The mean
 * is smoothed with a prior of one gossip interval, so a member with few
 * beats is judged by the configured rhythm, not by one lucky sample.
 *
 * Times are the observer's loop clock in milliseconds; nothing here trusts
 * another node's clock. */
#ifndef RUMOR_DETECTOR_H
#define RUMOR_DETECTOR_H
#include <stdint.h>

typedef struct rumor_detector {
  uint64_t last;    /* loop time of the last beat, or of first notice; 0: not started */
  double mean;      /* smoothed interval between beats, ms */
  uint32_t samples; /* intervals in the mean, up to the window */
} rumor_detector;

/* Starts the clock at now if it has not started. */
void rumor__detector_start(rumor_detector *d, uint64_t now);
/* A member this observer starts to judge: its silence counts from `from`
 * at the earliest (the last beat moves up to it; the rhythm stays). */
void rumor__detector_watch(rumor_detector *d, uint64_t from);
/* Forgets the rhythm (a new generation) and starts again at now. */
void rumor__detector_reset(rumor_detector *d, uint64_t now);
/* A beat at now. Intervals over max_interval_ms are an outage or a stall,
 * not the rhythm: they restart the clock but do not enter the mean. */
void rumor__detector_beat(rumor_detector *d, uint64_t now, uint64_t max_interval_ms);
/* Milliseconds since the last beat (or first notice). */
uint64_t rumor__detector_age(const rumor_detector *d, uint64_t now);
/* The suspicion level now, with prior_ms as the expected interval. */
double rumor__detector_phi(const rumor_detector *d, uint64_t now, uint64_t prior_ms);
/* Moves the last beat ms later (not past now): time the observer itself
 * was stalled must not count against the member. */
void rumor__detector_shift(rumor_detector *d, uint64_t ms, uint64_t now);
#endif
