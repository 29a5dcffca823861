// Package infer runs goformer models over Apache Beam collections: the
// same pipeline transcribes, captions, answers questions about, classifies
// or embeds millions of files on the local Prism runner, Google Cloud
// Dataflow, Flink or Spark.
//
// Inputs are PCollections of file paths or URIs, read through Beam's file
// systems (package filesystem): local paths always; gs:// and s3:// once the
// program imports those file systems (the beamx package imports gcs):
//
//	p, s := beam.NewPipelineWithRoot()
//	files := infer.Files(s, "gs://bucket/audio/*.flac")
//	res := infer.Transcribe(s, files, infer.Config{
//		Model:      "openai/whisper-base",
//		Transcribe: goformer.TranscribeOptions{Language: "en"},
//		Subtitles:  []string{"srt"}, Output: "gs://bucket/out",
//	})
//	infer.WriteJSONL(s, res.Records, "gs://bucket/out", "results", 16)
//	infer.WriteJSONL(s, res.DeadLetter, "gs://bucket/out", "deadletter", 1)
//
// # Models
//
// Config.Model is a Hub id (fetched into each worker's Hugging Face cache)
// or a folder every worker can read. Each worker process loads it once:
// the DoFns' Setup takes it from a process-wide cache keyed by the model
// reference and load options, reference-counted so that all bundles (and
// all transforms) of a worker share one loaded model, which is safe for
// concurrent use; the last Teardown closes it. Config.Parallelism bounds
// the model calls running at once in a worker process (the model's own
// kernels already use every core, so 1, the default, is usually best on
// small machines; see the README for measurements).
//
// # Batching
//
// A transform's DoFn buffers up to BatchSize×Parallelism inputs of a bundle
// and runs them together, Parallelism calls at a time. Embedders get whole
// batches (EmbedImages and EmbedTexts with up to BatchSize inputs per call);
// the other tasks take one input per call, as their models do.
// The transforms are meant for batch pipelines in the global window (a
// bundle's last batch is emitted from FinishBundle, which Beam places
// there).
//
// # Outputs
//
// Every transform returns a Result: Records, one JSON line per input
// (Record: path, result, model, options, timings), and DeadLetter, one JSON
// line per input that could not be read, decoded or run (DeadLetterRecord:
// path, error); both are PCollections of KV<string, string> keyed by the
// input (its path, or the text for EmbedTexts). A bad input never fails the
// job. WriteJSONL writes such a collection as sharded JSON Lines files and
// WriteIndex writes embeddings as sharded CLIP index files that `goformer
// search -index` opens, plus JSON Lines {id, vector} shards.
//
// # Retries and reruns
//
// Every file this package writes has a name that depends only on its
// contents' keys: per-input subtitle files are named by a hash of the input
// path, and shard i of n of a sharded output is written by the one
// GroupByKey group of shard i, which holds one record per input (duplicates
// of a key are dropped, keeping the first in sorted order). Files are
// written to a temporary name and renamed into place. A bundle that a runner
// retries, or a whole job run again over the same output prefix, therefore
// rewrites the same files instead of adding records.
//
// # Metrics
//
// Counters in the "goformer" namespace: inputs_done (records emitted),
// errors (dead letters), audio_ms (milliseconds of audio transcribed),
// decode_ms and infer_ms (time spent decoding inputs and in the model).
package infer
