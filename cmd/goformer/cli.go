package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/goformer/goformer"

	"github.com/goformer/goformer/hub"
	"github.com/goformer/goformer/tensor"
)

// Default models, fetched from the Hub when -model is not given: the front
// door's defaults per task.
var (
	defaultClassifyModel   = goformer.DefaultModel(goformer.TaskClassify)
	defaultCLIPModel       = goformer.DefaultModel(goformer.TaskZeroShot)
	defaultTranscribeModel = goformer.DefaultModel(goformer.TaskTranscribe)
	defaultCaptionModel    = goformer.DefaultModel(goformer.TaskCaption)
	defaultVQAModel        = goformer.DefaultModel(goformer.TaskVQA)
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(e *env, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"classify", "label images with an image classifier (ViT)", runClassify},
		{"zeroshot", "rank free-text labels for images (CLIP)", runZeroShot},
		{"embed", "embed texts and images into CLIP's joint space", runEmbed},
		{"search", "index a folder of images, then search it by text or image (CLIP)", runSearch},
		{"transcribe", "transcribe or translate speech (Whisper, wav2vec2)", runTranscribe},
		{"caption", "describe images (BLIP, BLIP-2, ViT-GPT2, LLaVA)", runCaption},
		{"vqa", "answer a question about images (BLIP, BLIP-2, LLaVA)", runVQA},
		{"chat", "ask a chat model about images, streaming its answer (LLaVA)", runChat},
		{"serve", "serve models over HTTP (OpenAI-compatible audio and chat APIs, JSON endpoints)", runServe},
		{"version", "print the version", runVersion},
	}
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	loader *loader
}

// usageError is a command-line mistake (exit status 2).
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// run is the whole program: it runs the command named by args[0] and returns
// the exit status. Output goes to stdout, progress and errors to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-version", "--version":
		name = "version"
		args = []string{"version"}
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			// "goformer help caption" shows the command's flags.
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		printUsage(stdout)
		return exitOK
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == name {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "goformer: unknown command %q (run goformer help)\n", name)
		return exitUsage
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, loader: &loader{stderr: stderr}}
	err := cmd.run(e, args[1:])
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	}
	var u *usageError
	if errors.As(err, &u) {
		fmt.Fprintf(stderr, "goformer %s: %s (run goformer %s -h)\n", name, oneLine(err.Error()), name)
		return exitUsage
	}
	fmt.Fprintf(stderr, "goformer %s: %s\n", name, oneLine(err.Error()))
	return exitError
}

// oneLine joins the lines of a multi-line error message.
func oneLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `goformer runs transformer models from the HuggingFace Hub in pure Go.

Usage:

	goformer <command> [flags] [inputs]

Commands:

`)
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-11s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
-model takes a Hub id (org/name or org/name@revision, cached in `+hub.DefaultCacheDir()+`)
or a local model directory; config.json's architecture chooses the implementation.
Run "goformer <command> -h" for a command's flags.
`)
}

// flagSet returns a flag set that reports its errors through run.
func flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses flags that may come before, between or after the positional
// arguments (everything after "--" is positional) and returns the positional
// arguments. -h prints the command's usage to stdout.
func parse(e *env, fs *flag.FlagSet, usage string, args []string) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(e.stdout, "Usage: goformer %s %s\n\nFlags:\n", fs.Name(), usage)
			fs.SetOutput(e.stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
			return nil, flag.ErrHelp
		}
		if err != nil {
			return nil, usagef("%v", err)
		}
		if f := fs.Lookup("weights"); f != nil {
			e.loader.weightType = f.Value.(*weightFlag).t
		}
		if f := fs.Lookup("kv"); f != nil {
			e.loader.kvType = f.Value.(*weightFlag).t
		}
		if f := fs.Lookup("selfkv"); f != nil {
			e.loader.selfKVType = f.Value.(*weightFlag).t
		}
		if f := fs.Lookup("device"); f != nil {
			if name := f.Value.String(); name != e.loader.deviceName {
				d, err := goformer.OpenDevice(name)
				if err != nil {
					return nil, usagef("-device %s: %v", name, err)
				}
				e.loader.device, e.loader.deviceName = d, name
			}
		}
		if f := fs.Lookup("threads"); f != nil {
			n := f.Value.(flag.Getter).Get().(int)
			if n < 0 {
				return nil, usagef("-threads %d: want 0 (one per core) or more", n)
			}
			if n > 0 {
				tensor.SetThreads(n)
			}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// listFlag collects a repeatable flag; each value may hold several items
// separated by sep ("" keeps values whole).
type listFlag struct {
	items []string
	sep   string
}

func (l *listFlag) String() string { return strings.Join(l.items, l.sep) }

func (l *listFlag) Set(v string) error {
	if l.sep == "" {
		l.items = append(l.items, v)
		return nil
	}
	for _, s := range strings.Split(v, l.sep) {
		if s = strings.TrimSpace(s); s != "" {
			l.items = append(l.items, s)
		}
	}
	return nil
}

// weightFlag is -weights (the type float32 weights are packed in) or, with
// kv set, -kv (which has no int8 form).
type weightFlag struct {
	t  tensor.WeightType
	kv bool
}

func (w *weightFlag) String() string {
	if w == nil || w.t == tensor.WeightF32 {
		return "f32"
	}
	return strings.ToLower(w.t.String())
}

func (w *weightFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "f32", "fp32", "float32":
		w.t = tensor.WeightF32
	case "f16", "fp16", "float16", "half":
		w.t = tensor.WeightF16
	case "bf16", "bfloat16":
		w.t = tensor.WeightBF16
	case "q8", "int8":
		if w.kv {
			return fmt.Errorf("%q: keys and values are f32, f16 or bf16", s)
		}
		w.t = tensor.WeightQ8
	case "bf16dot":
		if w.kv {
			return fmt.Errorf("%q: keys and values are f32, f16 or bf16", s)
		}
		w.t = tensor.WeightBF16Dot
	default:
		if w.kv {
			return fmt.Errorf("%q is not f32, f16 or bf16", s)
		}
		return fmt.Errorf("%q is not f32, f16, bf16, q8 or bf16dot", s)
	}
	return nil
}

// weightsFlag adds -weights to fs.
func weightsFlag(fs *flag.FlagSet) {
	fs.Var(&weightFlag{}, "weights", "keep float32 weights packed as f16 or bf16: half their memory and of each decoded token's reads, rounding them (~7e-4 of the largest logit for f16; 16-bit checkpoints stay 16-bit regardless); or q8: linear layers' weights quantized to int8 (a quarter of float32's memory; activations quantized on the fly, about 1% error per product, see tensor/PERFORMANCE.md); or bf16dot: linear layers compute in bfloat16 (weights and activations rounded, float32 sums; AVX512-BF16 where the CPU has it, much slower portable Go elsewhere; about 0.25% error per product)")
	fs.String("device", "cpu", "where the model runs: cpu; cuda or cuda:N (an NVIDIA GPU, in a build with -tags cuda); check (the CPU through the checking device of the tests)")
	fs.Int("threads", 0, "threads for the kernels (0: one per core, GOMAXPROCS; the environment variable GOMAXPROCS also caps Go's own threads)")
	fs.Var(&weightFlag{kv: true}, "kv", "keep the decoders' cross-attention keys and values (whisper, blip, vit-gpt2) as f16 or bf16: half their memory and reads per token (~1e-5 of the largest logit for f16)")
	fs.Var(&weightFlag{kv: true}, "selfkv", "keep the decoders' self-attention caches (whisper, blip, vit-gpt2) as f16 or bf16: half their memory and reads per token (~2e-4 of the largest logit for f16)")
}

// common are the flags every inference command has.
type common struct {
	model  *string
	format *string
	out    *string
}

func commonFlags(fs *flag.FlagSet, defModel, defFormat, formats string) common {
	weightsFlag(fs)
	return common{
		model:  fs.String("model", defModel, "model: a Hub id (org/name[@revision]) or a local directory"),
		format: fs.String("format", defFormat, "output format: "+formats),
		out:    fs.String("o", "", "write the output to this file instead of standard output"),
	}
}

// output returns where a command writes its results and a function that
// finishes the output: with -o the results are collected and written to the
// file only when the command succeeded.
func (c common) output(e *env) (io.Writer, func(err error) error) {
	if *c.out == "" {
		return e.stdout, func(err error) error { return err }
	}
	// The file is written only when every input succeeded (standard
	// output gets the results of the inputs that did).
	var buf bytes.Buffer
	return &buf, func(err error) error {
		if err != nil {
			return err
		}
		return writeFileAtomic(*c.out, buf.Bytes())
	}
}

// writeFileAtomic writes data to a temporary file beside path and renames it.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// checkFormat validates -format against the allowed values.
func checkFormat(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return usagef("-format %q: want %s", format, strings.Join(allowed, " or "))
}

// loadFor loads the model for a command, checks that it does task and, for
// models that can tell, that it honours opt (a task options value, or nil):
// an option it cannot honour is a command-line mistake naming the flag.
func (e *env) loadFor(ref, task string, opt any) (*model, error) {
	// A checkpoint without config.json is OpenAI's Whisper or CLIP file:
	// the task tells which.
	hint := ""
	switch task {
	case goformer.TaskTranscribe, goformer.TaskTranslate:
		hint = "whisper"
	case goformer.TaskZeroShot, goformer.TaskEmbed, goformer.TaskSearch:
		hint = "clip"
	}
	m, err := e.loader.load(e.ctx, ref, hint)
	if err != nil {
		return nil, err
	}
	if !m.Supports(task) {
		m.Close()
		return nil, m.wrongTask(task)
	}
	if c, ok := m.Model.(goformer.OptionChecker); ok && opt != nil {
		if err := c.CheckOptions(opt); err != nil {
			m.Close()
			var oe *goformer.OptionError
			if errors.As(err, &oe) {
				flags := optionFlags
				if task == goformer.TaskChat {
					flags = chatOptionFlags
				}
				return nil, usagef("%s: %v", flags[oe.Option], err)
			}
			return nil, err
		}
	}
	return m, nil
}

// optionFlags names the flag of each task option.
var optionFlags = map[string]string{
	"task": "-task", "language": "-language", "prompt": "-prompt", "beams": "-beam",
	"temperatures": "-temperature/-fallback", "words": "-words", "max_new_tokens": "-max-tokens",
	"top_k": "-k", "template": "-template",
}

func runVersion(e *env, args []string) error {
	fs := flagSet("version")
	if _, err := parse(e, fs, "", args); err != nil {
		return err
	}
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Fprintln(e.stdout, "goformer", v)
	return nil
}
