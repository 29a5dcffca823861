// Command goformer-beam runs a goformer model over many files as an Apache
// Beam pipeline: locally on the Prism runner, or on Google Cloud Dataflow,
// Flink or Spark, chosen with -runner.
//
//	goformer-beam -task transcribe -model openai/whisper-base \
//		-input 'audio/*.flac' -output out/ -subtitles srt,vtt
//	goformer-beam -task embed-images -model openai/clip-vit-base-patch32 \
//		-input 'gs://bucket/photos/*.jpg' -output gs://bucket/index/ \
//		-runner dataflow -project P -region europe-west1 \
//		-temp_location gs://bucket/tmp/ -staging_location gs://bucket/staging/
//
// Outputs under -output: results-SSSSS-of-NNNNN.jsonl (one JSON record per
// input), deadletter-00000-of-00001.jsonl (inputs that failed, with their
// error), subtitles/ for -subtitles, and for embeddings
// index-SSSSS-of-NNNNN.gfidx (open with `goformer search -index`) and
// vectors-SSSSS-of-NNNNN.jsonl. See the README of the beam module.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/goformer/goformer"
	"github.com/goformer/goformer/beam/infer"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// options are the command's flags (Beam's own, -runner and the runners'
// options, are registered by Beam).
type options struct {
	inputs       listFlag
	task         string
	model        string
	output       string
	shards       int
	indexShards  int
	weights      string
	batchSize    int
	modelThreads int

	question     string
	prompt       string
	beams        int
	maxNewTokens int
	topK         int

	language     string
	translate    bool
	words        bool
	temperatures string
	subtitles    string
}

func (o *options) register(fs *flag.FlagSet) {
	fs.Var(&o.inputs, "input", "input files: a glob of local paths or URIs (gs://…, s3://…); repeatable. For -task embed-texts, text files with one text per line")
	fs.StringVar(&o.task, "task", "", "transcribe, caption, answer, classify, embed-images or embed-texts")
	fs.StringVar(&o.model, "model", "", "Hub id or a folder every worker can read (default: goformer's default model for the task)")
	fs.StringVar(&o.output, "output", "", "output folder or URI prefix (required)")
	fs.IntVar(&o.shards, "shards", 1, "number of results-*.jsonl files")
	fs.IntVar(&o.indexShards, "index_shards", 1, "number of index and vectors files (embedding tasks)")
	fs.StringVar(&o.weights, "weights", "", "keep float32 weights as f16 or bf16 (half the memory)")
	fs.IntVar(&o.batchSize, "batch_size", 0, "inputs per model call for embeddings (default 8)")
	fs.IntVar(&o.modelThreads, "model_parallelism", 0, "model calls at once per worker process (default 1: each call uses all cores)")
	fs.StringVar(&o.question, "question", "", "the question asked about every image (-task answer)")
	fs.StringVar(&o.prompt, "prompt", "", "caption prompt, or transcription prompt")
	fs.IntVar(&o.beams, "beams", 0, "beam search with this many beams (caption, answer, transcribe)")
	fs.IntVar(&o.maxNewTokens, "max_new_tokens", 0, "bound on generated tokens (caption, answer)")
	fs.IntVar(&o.topK, "top_k", 5, "classes per image (-task classify; 0: all)")
	fs.StringVar(&o.language, "language", "", "spoken language (transcribe; default: detected)")
	fs.BoolVar(&o.translate, "translate", false, "translate speech into English (transcribe)")
	fs.BoolVar(&o.words, "words", false, "word timestamps (transcribe)")
	fs.StringVar(&o.temperatures, "temperature", "", "comma-separated temperature schedule (transcribe; default 0,0.2,…,1)")
	fs.StringVar(&o.subtitles, "subtitles", "", "comma-separated subtitle formats written per input under -output/subtitles (srt, vtt)")
}

var taskDefaults = map[string]string{
	infer.TaskTranscribe:  "transcribe",
	infer.TaskCaption:     "caption",
	infer.TaskAnswer:      "vqa",
	infer.TaskClassify:    "classify",
	infer.TaskEmbedImages: "embed",
	infer.TaskEmbedTexts:  "embed",
}

// config turns the flags into the task's Config.
func (o *options) config() (infer.Config, error) {
	cfg := infer.Config{
		Model: o.model, WeightType: o.weights, BatchSize: o.batchSize, Parallelism: o.modelThreads,
		Question: o.question, Output: o.output,
	}
	if cfg.Model == "" {
		cfg.Model = goformer.DefaultModel(taskDefaults[o.task])
	}
	switch o.task {
	case infer.TaskTranscribe:
		cfg.Transcribe.Language = o.language
		cfg.Transcribe.Prompt = o.prompt
		cfg.Transcribe.Beams = o.beams
		cfg.Transcribe.Words = o.words
		if o.translate {
			cfg.Transcribe.Task = "translate"
		}
		if o.temperatures != "" {
			for _, f := range strings.Split(o.temperatures, ",") {
				v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
				if err != nil {
					return cfg, fmt.Errorf("-temperature: %w", err)
				}
				cfg.Transcribe.Temperatures = append(cfg.Transcribe.Temperatures, v)
			}
		}
		if o.subtitles != "" {
			cfg.Subtitles = strings.Split(o.subtitles, ",")
		}
	case infer.TaskCaption:
		cfg.Caption.Prompt = o.prompt
		cfg.Caption.Beams = o.beams
		cfg.Caption.MaxNewTokens = o.maxNewTokens
	case infer.TaskAnswer:
		cfg.Answer.Beams = o.beams
		cfg.Answer.MaxNewTokens = o.maxNewTokens
	case infer.TaskClassify:
		cfg.Classify.TopK = o.topK
	case infer.TaskEmbedImages, infer.TaskEmbedTexts:
	default:
		names := make([]string, 0, len(taskDefaults))
		for k := range taskDefaults {
			names = append(names, k)
		}
		sort.Strings(names)
		return cfg, fmt.Errorf("-task %q: want one of %s", o.task, strings.Join(names, ", "))
	}
	return cfg, infer.ValidateConfig(o.task, cfg)
}

// build makes the pipeline the flags describe.
func build(o *options) (*beam.Pipeline, error) {
	if len(o.inputs) == 0 {
		return nil, errors.New("give -input (a glob of files)")
	}
	if o.output == "" {
		return nil, errors.New("give -output (a folder or URI prefix)")
	}
	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	p, s := beam.NewPipelineWithRoot()
	var inputs beam.PCollection
	if o.task == infer.TaskEmbedTexts {
		var cols []beam.PCollection
		for _, in := range o.inputs {
			cols = append(cols, textio.Read(s, in))
		}
		inputs = beam.Flatten(s, cols...)
	} else {
		inputs = infer.Files(s, o.inputs...)
	}
	res := infer.Run(s, o.task, inputs, cfg)
	infer.WriteJSONL(s, res.Records, o.output, "results", o.shards)
	infer.WriteJSONL(s, res.DeadLetter, o.output, "deadletter", 1)
	if o.task == infer.TaskEmbedImages || o.task == infer.TaskEmbedTexts {
		infer.WriteIndex(s, res.Records, o.output, o.indexShards)
	}
	return p, nil
}

func main() {
	var o options
	o.register(flag.CommandLine)
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: goformer-beam -task TASK -input GLOB -output PREFIX [-model ID|DIR] [-runner prism|dataflow|flink|spark] [options]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	// Workers started by a runner run this same binary: Init serves them
	// and does not return.
	beam.Init()
	if err := run(context.Background(), &o); err != nil {
		fmt.Fprintln(os.Stderr, "goformer-beam:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o *options) error {
	p, err := build(o)
	if err != nil {
		return err
	}
	res, err := beamx.RunWithMetrics(ctx, p)
	if err != nil {
		return err
	}
	if res != nil {
		counts := map[string]int64{}
		for _, c := range res.Metrics().AllMetrics().Counters() {
			if c.Namespace() == "goformer" {
				counts[c.Name()] += c.Result()
			}
		}
		if len(counts) > 0 {
			audio := ""
			if counts["audio_ms"] > 0 {
				audio = fmt.Sprintf(", %.1f s of audio", float64(counts["audio_ms"])/1000)
			}
			fmt.Fprintf(os.Stderr, "goformer-beam: %d inputs done, %d errors (see %sdeadletter-*.jsonl)%s\n",
				counts["inputs_done"], counts["errors"], slash(o.output), audio)
		}
	}
	return nil
}

func slash(p string) string {
	if strings.HasSuffix(p, "/") {
		return p
	}
	return p + "/"
}
