// Package generate is the decoding policy above the model: greedy search and
// beam search exactly as HuggingFace transformers v4.30 runs them
// (greedy_search; beam_search with BeamSearchScorer and BeamHypotheses),
// together with the logits processors its generate() builds from a
// generation config (repetition penalty, no-repeat n-grams, minimum length,
// minimum new tokens, forced end token, suppressed tokens, tokens suppressed
// at the first generated position).
//
// The model side is a [Stepper]: anything that feeds tokens to rows of a
// batch and returns each row's next-token logits, and that can reorder its
// rows (per-call caches follow the beams). Models keep their KV caches in
// the Stepper; this package keeps the sequences, scores and hypotheses.
//
// [Greedy] and [Beam] take a batch of prompts of one length and return, per
// prompt, the sequence transformers' generate returns for it (prompt
// included, the end token appended where the text ended before the maximum
// length), without the padding transformers adds to align a batch. Finished
// batch items leave the Stepper's batch early, which never changes the
// others: each item's result is the one it gets alone.
//
// The functions hold no global state and are safe for concurrent use with
// distinct Steppers.
package generate
