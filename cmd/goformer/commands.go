package main

import (
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/tokenizer"
)

// needInputs checks that a command got at least one input and expands
// folders and patterns (see expandInputs).
func needInputs(pos []string, what string, exts []string) ([]string, error) {
	if len(pos) == 0 {
		return nil, usagef("no %s given", what)
	}
	return expandInputs(pos, exts)
}

// parseImageCommand parses the arguments of an image command (classify,
// zeroshot, caption, vqa) and checks its -format: text, json or jsonl.
func parseImageCommand(e *env, fs *flag.FlagSet, c common, usage string, args []string) ([]string, error) {
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return nil, err
	}
	if err := checkFormat(*c.format, "text", "json", "jsonl"); err != nil {
		return nil, err
	}
	return pos, nil
}

func runClassify(e *env, args []string) error {
	const usage = "[-model ID|DIR] [-k N] [-format text|json|jsonl] [-o FILE] IMAGE|DIR|GLOB|-..."
	fs := flagSet("classify")
	c := commonFlags(fs, defaultClassifyModel, "text", "text, json or jsonl")
	k := fs.Int("k", 5, "number of classes to show per image (0: all)")
	pos, err := parseImageCommand(e, fs, c, usage, args)
	if err != nil {
		return err
	}
	if *k < 0 {
		return usagef("-k %d: want 0 (all) or more", *k)
	}
	inputs, err := needInputs(pos, "image", imageExts)
	if err != nil {
		return err
	}
	m, err := e.loadFor(*c.model, goformer.TaskClassify, goformer.ClassifyOptions{TopK: *k})
	if err != nil {
		return err
	}
	defer m.Close()
	return e.runImages("classify", c, inputs, func(name string, img image.Image) (imageResult, error) {
		preds, err := m.classify(e.ctx, img, *k)
		if err != nil {
			return imageResult{}, err
		}
		return imageResult{json: Classification{Image: name, Predictions: preds},
			text: scoreLines(preds, func(p goformer.Prediction) (float32, string) { return p.Score, p.Label })}, nil
	})
}

func runZeroShot(e *env, args []string) error {
	const usage = `[-model ID|DIR] -labels "a dog,a cat" [-template "a photo of {label}"] [-k N] [-format text|json|jsonl] [-o FILE] IMAGE|DIR|GLOB|-...`
	fs := flagSet("zeroshot")
	c := commonFlags(fs, defaultCLIPModel, "text", "text, json or jsonl")
	labels := &listFlag{sep: ","}
	fs.Var(labels, "labels", "comma-separated candidate labels (repeatable)")
	template := fs.String("template", "", `prompt template, "{label}" standing for each label (e.g. "a photo of {label}")`)
	k := fs.Int("k", 0, "number of labels to show per image (0: all)")
	pos, err := parseImageCommand(e, fs, c, usage, args)
	if err != nil {
		return err
	}
	if len(labels.items) == 0 {
		return usagef("no labels: give them with -labels")
	}
	if *k < 0 {
		return usagef("-k %d: want 0 (all) or more", *k)
	}
	inputs, err := needInputs(pos, "image", imageExts)
	if err != nil {
		return err
	}
	opt := goformer.ZeroShotOptions{Template: *template, TopK: *k}
	m, err := e.loadFor(*c.model, goformer.TaskZeroShot, opt)
	if err != nil {
		return err
	}
	defer m.Close()
	return e.runImages("zeroshot", c, inputs, func(name string, img image.Image) (imageResult, error) {
		scores, err := m.zeroShot(e.ctx, img, labels.items, *template, *k)
		if err != nil {
			return imageResult{}, err
		}
		return imageResult{json: ZeroShotResult{Image: name, Labels: scores},
			text: scoreLines(scores, func(s goformer.LabelScore) (float32, string) { return s.Probability, s.Label })}, nil
	})
}

// textLine writes one text per image: alone, or after the image's name
// when there are several images.
func textLine(text string) func(w io.Writer, name string, multi bool) {
	return func(w io.Writer, name string, multi bool) {
		if multi {
			fmt.Fprintf(w, "%s: %s\n", name, text)
		} else {
			fmt.Fprintln(w, text)
		}
	}
}

// generationFlags defines caption's and vqa's -beam and -max-tokens.
func generationFlags(fs *flag.FlagSet) (beam, maxTokens *int) {
	beam = fs.Int("beam", 0, "beam-search width (0: the model's setting, 1: greedy)")
	maxTokens = fs.Int("max-tokens", 0, "most tokens to generate (0: the model's setting)")
	return beam, maxTokens
}

// scoreLines is the text output of classify and zeroshot: the image's name
// (when there are several images), then a "score  label" line per item.
func scoreLines[T any](items []T, scoreLabel func(T) (float32, string)) func(w io.Writer, name string, multi bool) {
	return func(w io.Writer, name string, multi bool) {
		if multi {
			fmt.Fprintf(w, "%s:\n", name)
		}
		for _, it := range items {
			score, label := scoreLabel(it)
			fmt.Fprintf(w, "%.4f  %s\n", score, label)
		}
	}
}

func runEmbed(e *env, args []string) error {
	const usage = `[-model ID|DIR] [-text TEXT]... [-format json|jsonl|text] [-o FILE] [IMAGE|DIR|GLOB|-...]`
	fs := flagSet("embed")
	c := commonFlags(fs, defaultCLIPModel, "json", "json, jsonl or text (one line per input: the input, a tab, the values)")
	texts := &listFlag{}
	fs.Var(texts, "text", "a text to embed (repeatable)")
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*c.format, "json", "jsonl", "text"); err != nil {
		return err
	}
	if len(texts.items) == 0 && len(pos) == 0 {
		return usagef("nothing to embed: give texts with -text and/or image files")
	}
	var inputs []string
	if len(pos) > 0 {
		if inputs, err = expandInputs(pos, imageExts); err != nil {
			return err
		}
	}
	m, err := e.loadFor(*c.model, goformer.TaskEmbed, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	w, done := c.output(e)
	var all []Embedding
	emit := func(emb Embedding) error {
		switch *c.format {
		case "json":
			all = append(all, emb)
		case "jsonl":
			return writeJSONLine(w, emb)
		default:
			vals := make([]string, len(emb.Embedding))
			for i, v := range emb.Embedding {
				vals[i] = strconv.FormatFloat(float64(v), 'g', 7, 32)
			}
			fmt.Fprintf(w, "%s\t%s\n", strings.ReplaceAll(emb.Input, "\t", " "), strings.Join(vals, " "))
		}
		return nil
	}
	if len(texts.items) > 0 {
		vecs, err := m.embedTexts(e.ctx, texts.items)
		if err != nil {
			return err
		}
		for i, t := range texts.items {
			if err := emit(Embedding{Input: t, Type: "text", Embedding: vecs[i]}); err != nil {
				return err
			}
		}
	}
	err = e.each("embed", inputs, func(name string) error {
		img, err := readImage(name)
		if err != nil {
			return err
		}
		vecs, err := m.embedImages(e.ctx, []image.Image{img})
		if err != nil {
			return err
		}
		return emit(Embedding{Input: displayName(name), Type: "image", Embedding: vecs[0]})
	})
	if *c.format == "json" {
		if werr := writeJSON(w, all); werr != nil && err == nil {
			err = werr
		}
	}
	return done(err)
}

func runSearch(e *env, args []string) error {
	const usage = `[-model ID|DIR] [-dir FOLDER] [-index FILE] [-rebuild] [-recursive] [-k N] [-image IMAGE] [-format text|json] [QUERY TEXT...]

Builds an index of the images in -dir (saved to -index when given), or loads
the index saved in -index, then prints the images most similar to the query:
the text arguments, or the image given with -image. Without a query it only
builds the index.`
	fs := flagSet("search")
	c := commonFlags(fs, defaultCLIPModel, "text", "text or json")
	dir := fs.String("dir", "", "folder of images to index")
	indexPath := fs.String("index", "", "index file: with -dir, the folder's index kept up to date (built the first time); alone, a saved index searched as it is")
	rebuild := fs.Bool("rebuild", false, "index -dir again even when -index exists")
	recursive := fs.Bool("recursive", false, "index subfolders of -dir too")
	k := fs.Int("k", 5, "number of results (0: all)")
	imageQuery := fs.String("image", "", "search for images similar to this image")
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*c.format, "text", "json"); err != nil {
		return err
	}
	query := strings.TrimSpace(strings.Join(pos, " "))
	if query != "" && *imageQuery != "" {
		return usagef("give a text query or -image, not both")
	}
	if *dir == "" && *indexPath == "" {
		return usagef("give -dir (a folder of images to index) and/or -index (a saved index)")
	}
	useSaved := false
	if *indexPath != "" && !*rebuild {
		if _, err := os.Stat(*indexPath); err == nil {
			useSaved = true
		} else if *dir == "" {
			return fmt.Errorf("index %s: %w (give -dir to build it)", *indexPath, err)
		}
	}
	m, err := e.loadFor(*c.model, goformer.TaskSearch, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	searcher, ok := m.Model.(goformer.Searcher)
	if !ok {
		return m.wrongTask(goformer.TaskSearch)
	}
	var ix goformer.Index
	switch {
	case useSaved && *dir == "":
		// An index searched without its folder: used as it is.
		ix, err = searcher.LoadIndex(*indexPath)
		if err != nil {
			if errors.Is(err, goformer.ErrIndexMismatch) {
				return fmt.Errorf("%s: %w (rebuild it with -rebuild -dir FOLDER)", *indexPath, err)
			}
			return fmt.Errorf("%s: %w", *indexPath, err)
		}
	case useSaved:
		// The index of -dir, brought up to date: new and changed images
		// embedded, deleted ones dropped. An index of another folder or
		// model is refused.
		var ch goformer.IndexChanges
		ix, ch, err = searcher.OpenIndex(e.ctx, *indexPath, *dir, indexOptions(e, *dir, *recursive))
		if err != nil {
			if errors.Is(err, goformer.ErrIndexMismatch) || errors.Is(err, goformer.ErrIndexRoot) {
				return fmt.Errorf("%w (rebuild it with -rebuild, or give another -index)", err)
			}
			return err
		}
		if ch.Changed() {
			fmt.Fprintf(e.stderr, "index %s: %d added, %d updated, %d removed\n", *indexPath, ch.Added, ch.Updated, ch.Removed)
		}
	default:
		ix, err = buildIndex(e, searcher, *dir, *recursive)
		if err != nil {
			return err
		}
		if *indexPath != "" {
			if err := ix.Save(*indexPath); err != nil {
				return fmt.Errorf("saving index: %w", err)
			}
		}
		fmt.Fprintf(e.stderr, "indexed %d images of %s\n", ix.Len(), *dir)
	}
	if query == "" && *imageQuery == "" {
		return nil
	}
	var matches []goformer.Match
	if *imageQuery != "" {
		img, err := goformer.DecodeImageFile(*imageQuery)
		if err != nil {
			return err
		}
		matches, err = ix.SearchImage(e.ctx, img, *k)
		if err != nil {
			return err
		}
	} else {
		matches, err = ix.SearchText(e.ctx, query, *k)
		if err != nil {
			return err
		}
	}
	w, done := c.output(e)
	if matches == nil {
		matches = []goformer.Match{}
	}
	if *c.format == "json" {
		return done(writeJSON(w, matches))
	}
	for _, mt := range matches {
		fmt.Fprintf(w, "%.4f  %s\n", mt.Score, mt.ID)
	}
	return done(nil)
}

// buildIndex embeds the images of dir, skipping (with a warning) files that
// cannot be decoded.
func buildIndex(e *env, s goformer.Searcher, dir string, recursive bool) (goformer.Index, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", dir)
	}
	ix, err := s.IndexDir(e.ctx, dir, indexOptions(e, dir, recursive))
	if err != nil {
		return nil, fmt.Errorf("indexing %s: %w", dir, err)
	}
	return ix, nil
}

// indexOptions skip undecodable files with a warning and draw progress.
func indexOptions(e *env, dir string, recursive bool) goformer.IndexOptions {
	var b *bar
	return goformer.IndexOptions{
		Recursive: recursive,
		OnError: func(path string, err error) error {
			if e.ctx.Err() != nil {
				return e.ctx.Err()
			}
			b.clear()
			fmt.Fprintf(e.stderr, "goformer search: skipping %s\n", oneLine(withPath(path, err).Error()))
			return nil
		},
		Progress: func(done, total int) {
			if b == nil {
				b = newBar(e.stderr, int64(total), "indexing "+filepath.Base(dir), false)
			}
			b.set(int64(done))
			if done == total {
				b.finish()
			}
		},
	}
}

// withPath makes sure an error names path.
func withPath(path string, err error) error {
	if strings.Contains(err.Error(), path) {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

func runCaption(e *env, args []string) error {
	const usage = `[-model ID|DIR] [-prompt TEXT] [-beam N] [-max-tokens N] [-format text|json|jsonl] [-o FILE] IMAGE|DIR|GLOB|-...`
	fs := flagSet("caption")
	c := commonFlags(fs, defaultCaptionModel, "text", "text, json or jsonl")
	prompt := fs.String("prompt", "", `text the caption starts with, e.g. "a photography of" (BLIP and BLIP-2)`)
	beam, maxTokens := generationFlags(fs)
	pos, err := parseImageCommand(e, fs, c, usage, args)
	if err != nil {
		return err
	}
	if err := checkGeneration(*beam, *maxTokens); err != nil {
		return err
	}
	inputs, err := needInputs(pos, "image", imageExts)
	if err != nil {
		return err
	}
	opt := captionParams{Prompt: *prompt, Beams: *beam, MaxNewTokens: *maxTokens}
	m, err := e.loadFor(*c.model, goformer.TaskCaption, opt)
	if err != nil {
		return err
	}
	defer m.Close()
	return e.runImages("caption", c, inputs, func(name string, img image.Image) (imageResult, error) {
		text, err := m.caption(e.ctx, img, opt)
		if err != nil {
			return imageResult{}, err
		}
		return imageResult{json: CaptionResult{Image: name, Text: text}, text: textLine(text)}, nil
	})
}

// checkGeneration checks the generation flags before anything loads.
func checkGeneration(beam, maxTokens int) error {
	if beam < 0 {
		return usagef("-beam %d: want 0 (the model's setting) or more", beam)
	}
	if beam > maxBeams {
		return usagef("-beam %d: over the limit of %d", beam, maxBeams)
	}
	if maxTokens < 0 {
		return usagef("-max-tokens %d: want 0 (the model's setting) or more", maxTokens)
	}
	return nil
}

// maxBeams bounds -beam: wider searches cost beams² per token for no
// better text.
const maxBeams = 64

func runVQA(e *env, args []string) error {
	const usage = `[-model ID|DIR] -question TEXT [-beam N] [-max-tokens N] [-format text|json|jsonl] [-o FILE] IMAGE|DIR|GLOB|-...`
	fs := flagSet("vqa")
	c := commonFlags(fs, defaultVQAModel, "text", "text, json or jsonl")
	question := fs.String("question", "", "the question to answer about each image")
	beam, maxTokens := generationFlags(fs)
	pos, err := parseImageCommand(e, fs, c, usage, args)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*question) == "" {
		return usagef("no question: give it with -question")
	}
	if err := checkGeneration(*beam, *maxTokens); err != nil {
		return err
	}
	inputs, err := needInputs(pos, "image", imageExts)
	if err != nil {
		return err
	}
	opt := captionParams{Beams: *beam, MaxNewTokens: *maxTokens}
	m, err := e.loadFor(*c.model, goformer.TaskVQA, goformer.AnswerOptions{Beams: *beam, MaxNewTokens: *maxTokens})
	if err != nil {
		return err
	}
	defer m.Close()
	return e.runImages("vqa", c, inputs, func(name string, img image.Image) (imageResult, error) {
		ans, err := m.answer(e.ctx, img, *question, opt)
		if err != nil {
			return imageResult{}, err
		}
		return imageResult{json: AnswerResult{Image: name, Question: *question, Answer: ans}, text: textLine(ans)}, nil
	})
}

func runTranscribe(e *env, args []string) error {
	const usage = `[-model ID|DIR] [-language CODE] [-task transcribe|translate] [-timestamps] [-words] [-beam N] [-prompt TEXT] [-temperature T] [-fallback INC] [-format FORMAT[,FORMAT...]] [-output-dir DIR] [-o FILE] AUDIO|DIR|GLOB|-...

Reads WAV, FLAC, MP3 and Ogg Vorbis files. The formats are those of OpenAI's
audio API (response_format): "goformer serve" returns the same bytes. With
-output-dir, each input gets one file per format (NAME.txt, .json,
.verbose.json, .srt, .vtt); several inputs to one stream in json or
verbose_json are JSON Lines, one object per input with its "file".`
	fs := flagSet("transcribe")
	c := commonFlags(fs, defaultTranscribeModel, "text", strings.Join(transcriptFormats, ", ")+" (several, comma-separated, with -output-dir)")
	language := fs.String("language", "", `spoken language, a code ("en") or name ("english"); empty: detect (Whisper)`)
	taskName := fs.String("task", goformer.TaskTranscribe, "transcribe, or translate to English (Whisper)")
	timestamps := fs.Bool("timestamps", false, "text format: one line per segment with its start and end")
	words := fs.Bool("words", false, "word-level timestamps (verbose_json words, srt/vtt and -timestamps use them)")
	beam := fs.Int("beam", 0, "beam-search width (Whisper; 0 or 1: greedy)")
	prompt := fs.String("prompt", "", "text that precedes the audio: spellings, style (Whisper)")
	temperature := fs.Float64("temperature", 0, "sampling temperature of the first try (0: greedy)")
	fallback := fs.Float64("fallback", defaultFallback, "temperature increment when a window fails OpenAI's quality thresholds (0: no fallback)")
	outDir := fs.String("output-dir", "", "write one file per input and format into this folder")
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return err
	}
	formats := strings.Split(*c.format, ",")
	for _, f := range formats {
		if !validTranscriptFormat(f) {
			return usagef("-format %q: want %s", f, strings.Join(transcriptFormats, ", "))
		}
	}
	if *taskName != goformer.TaskTranscribe && *taskName != goformer.TaskTranslate {
		return usagef("-task %q: want transcribe or translate", *taskName)
	}
	if *language != "" {
		if _, ok := tokenizer.LanguageCode(*language); !ok {
			return usagef("-language %q: not a language code or name Whisper knows", *language)
		}
	}
	if *beam < 0 || *beam > maxBeams {
		return usagef("-beam %d: want 0 to %d", *beam, maxBeams)
	}
	if !(*temperature >= 0 && *temperature <= 1) {
		return usagef("-temperature %g: want a value from 0 to 1", *temperature)
	}
	if !(*fallback >= 0 && *fallback <= 1) {
		return usagef("-fallback %g: want a value from 0 (no fallback) to 1", *fallback)
	}
	if *outDir != "" && *c.out != "" {
		return usagef("give -o or -output-dir, not both")
	}
	inputs, err := needInputs(pos, "audio file", audioExts)
	if err != nil {
		return err
	}
	if *outDir == "" {
		if len(formats) > 1 {
			return usagef("several formats (%s) need -output-dir", *c.format)
		}
		if len(inputs) > 1 && (formats[0] == "srt" || formats[0] == "vtt") {
			return usagef("-format %s with several inputs needs -output-dir (one subtitle file each)", formats[0])
		}
	} else if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	p := transcribeParams{
		Task: *taskName, Language: *language, Prompt: *prompt, Temperature: *temperature,
		Fallback: *fallback, Beam: *beam, Words: *words,
	}
	m, err := e.loadFor(*c.model, *taskName, p.options())
	if err != nil {
		return err
	}
	defer m.Close()
	w, done := c.output(e)
	g := granularities{segments: true, words: *words}
	err = e.each("transcribe", inputs, func(name string) error {
		pcm, err := e.readAudio(name, m.sampleRate())
		if err != nil {
			return err
		}
		seconds := float64(len(pcm)) / float64(m.sampleRate())
		total := int64(math.Ceil(seconds))
		b := newBar(e.stderr, total, "transcribing "+filepath.Base(displayName(name))+" (seconds)", false)
		p := p
		p.Progress = func(s float64) { b.set(min(int64(s), total)) }
		t, err := m.transcribe(e.ctx, pcm, p)
		b.finish()
		if err != nil {
			return err
		}
		if *outDir != "" {
			return writeTranscriptFiles(*outDir, name, t, formats, g)
		}
		f := formats[0]
		switch {
		case f == "text" && len(inputs) > 1:
			fmt.Fprintf(w, "%s:\n", displayName(name))
		case (f == "json" || f == "verbose_json") && len(inputs) > 1:
			return writeTranscriptLine(w, displayName(name), t, f, g)
		}
		if f == "text" && *timestamps {
			return writeTimestamped(w, t)
		}
		return writeTranscript(w, t, f, g)
	})
	return done(err)
}

// readAudio decodes an audio input to mono samples at rate Hz.
func (e *env) readAudio(name string, rate int) ([]float32, error) {
	r, err := openInput(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	pcm, warnings, err := decodeAudioWarn(r, rate)
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "goformer transcribe: %s: warning: %s\n", displayName(name), w)
	}
	return pcm, err
}

// readAudioFile decodes an audio file to mono samples at rate Hz.
func readAudioFile(path string, rate int) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pcm, err := decodeAudio(f, rate)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pcm, nil
}
