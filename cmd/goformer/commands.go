package main

import (
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goformer/goformer"
)

// needInputs checks that a command got at least one input.
func needInputs(pos []string, what string) error {
	if len(pos) == 0 {
		return usagef("no %s given", what)
	}
	return nil
}

func runClassify(e *env, args []string) error {
	const usage = "[-model ID|DIR] [-k N] [-format text|json] [-o FILE] IMAGE..."
	fs := flagSet("classify")
	c := commonFlags(fs, defaultClassifyModel, "text", "text or json")
	k := fs.Int("k", 5, "number of classes to show per image (0: all)")
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*c.format, "text", "json"); err != nil {
		return err
	}
	if err := needInputs(pos, "image"); err != nil {
		return err
	}
	m, err := e.loadFor(*c.model, taskClassify)
	if err != nil {
		return err
	}
	defer m.Close()
	w, done := c.output(e)
	var results []Classification
	for _, path := range pos {
		img, err := decodeImageFile(path)
		if err != nil {
			return err
		}
		preds, err := m.classify(e.ctx, img, *k)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		r := Classification{Image: path, Predictions: preds}
		if *c.format == "json" {
			results = append(results, r)
			continue
		}
		if len(pos) > 1 {
			fmt.Fprintf(w, "%s:\n", path)
		}
		for _, p := range preds {
			fmt.Fprintf(w, "%.4f  %s\n", p.Score, p.Label)
		}
	}
	if *c.format == "json" {
		err = writeJSON(w, results)
	}
	return done(err)
}

func runZeroShot(e *env, args []string) error {
	const usage = `[-model ID|DIR] -labels "a dog,a cat" [-template "a photo of {label}"] [-k N] [-format text|json] [-o FILE] IMAGE...`
	fs := flagSet("zeroshot")
	c := commonFlags(fs, defaultCLIPModel, "text", "text or json")
	labels := &listFlag{sep: ","}
	fs.Var(labels, "labels", "comma-separated candidate labels (repeatable)")
	template := fs.String("template", "", `prompt template, "{label}" standing for each label (e.g. "a photo of {label}")`)
	k := fs.Int("k", 0, "number of labels to show per image (0: all)")
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*c.format, "text", "json"); err != nil {
		return err
	}
	if len(labels.items) == 0 {
		return usagef("no labels: give them with -labels")
	}
	if err := needInputs(pos, "image"); err != nil {
		return err
	}
	m, err := e.loadFor(*c.model, taskZeroShot)
	if err != nil {
		return err
	}
	defer m.Close()
	w, done := c.output(e)
	var results []ZeroShotResult
	for _, path := range pos {
		img, err := decodeImageFile(path)
		if err != nil {
			return err
		}
		scores, err := m.zeroShot(e.ctx, img, labels.items, *template, *k)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if *c.format == "json" {
			results = append(results, ZeroShotResult{Image: path, Labels: scores})
			continue
		}
		if len(pos) > 1 {
			fmt.Fprintf(w, "%s:\n", path)
		}
		for _, s := range scores {
			fmt.Fprintf(w, "%.4f  %s\n", s.Probability, s.Label)
		}
	}
	if *c.format == "json" {
		err = writeJSON(w, results)
	}
	return done(err)
}

func runEmbed(e *env, args []string) error {
	const usage = `[-model ID|DIR] [-text TEXT]... [-format json|text] [-o FILE] [IMAGE...]`
	fs := flagSet("embed")
	c := commonFlags(fs, defaultCLIPModel, "json", "json or text (one line per input: the input, a tab, the values)")
	texts := &listFlag{}
	fs.Var(texts, "text", "a text to embed (repeatable)")
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*c.format, "json", "text"); err != nil {
		return err
	}
	if len(texts.items) == 0 && len(pos) == 0 {
		return usagef("nothing to embed: give texts with -text and/or image files")
	}
	m, err := e.loadFor(*c.model, taskEmbed)
	if err != nil {
		return err
	}
	defer m.Close()
	var out []Embedding
	if len(texts.items) > 0 {
		vecs, err := m.embedTexts(e.ctx, texts.items)
		if err != nil {
			return err
		}
		for i, t := range texts.items {
			out = append(out, Embedding{Input: t, Type: "text", Embedding: vecs[i]})
		}
	}
	for _, path := range pos {
		img, err := decodeImageFile(path)
		if err != nil {
			return err
		}
		vecs, err := m.embedImages(e.ctx, []image.Image{img})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, Embedding{Input: path, Type: "image", Embedding: vecs[0]})
	}
	w, done := c.output(e)
	if *c.format == "json" {
		return done(writeJSON(w, out))
	}
	for _, emb := range out {
		vals := make([]string, len(emb.Embedding))
		for i, v := range emb.Embedding {
			vals[i] = strconv.FormatFloat(float64(v), 'g', 7, 32)
		}
		fmt.Fprintf(w, "%s\t%s\n", strings.ReplaceAll(emb.Input, "\t", " "), strings.Join(vals, " "))
	}
	return done(nil)
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
	indexPath := fs.String("index", "", "index file: loaded when it exists (unless -rebuild), else written after indexing -dir")
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
	m, err := e.loadFor(*c.model, taskSearch)
	if err != nil {
		return err
	}
	defer m.Close()
	searcher, ok := m.Model.(goformer.Searcher)
	if !ok {
		return m.wrongTask(taskSearch)
	}
	var ix goformer.Index
	if useSaved {
		ix, err = searcher.OpenIndex(*indexPath)
		if err != nil {
			if errors.Is(err, goformer.ErrIndexMismatch) {
				return fmt.Errorf("%s: %w (rebuild it with -rebuild -dir FOLDER)", *indexPath, err)
			}
			return fmt.Errorf("%s: %w", *indexPath, err)
		}
	} else {
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
		img, err := decodeImageFile(*imageQuery)
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
	var b *bar
	opt := goformer.IndexOptions{
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
		},
	}
	ix, err := s.IndexDir(e.ctx, dir, opt)
	b.finish()
	if err != nil {
		return nil, fmt.Errorf("indexing %s: %w", dir, err)
	}
	return ix, nil
}

// withPath makes sure an error names path.
func withPath(path string, err error) error {
	if strings.Contains(err.Error(), path) {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

func runCaption(e *env, args []string) error {
	const usage = `[-model ID|DIR] [-prompt TEXT] [-beam N] [-max-tokens N] [-format text|json] [-o FILE] IMAGE...`
	fs := flagSet("caption")
	c := commonFlags(fs, defaultCaptionModel, "text", "text or json")
	prompt := fs.String("prompt", "", `text the caption starts with, e.g. "a photography of" (BLIP only)`)
	beam := fs.Int("beam", 0, "beam-search width (0: the model's setting, 1: greedy)")
	maxTokens := fs.Int("max-tokens", 0, "most tokens to generate (0: the model's setting)")
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*c.format, "text", "json"); err != nil {
		return err
	}
	if err := needInputs(pos, "image"); err != nil {
		return err
	}
	m, err := e.loadFor(*c.model, taskCaption)
	if err != nil {
		return err
	}
	defer m.Close()
	w, done := c.output(e)
	var results []CaptionResult
	for _, path := range pos {
		img, err := decodeImageFile(path)
		if err != nil {
			return err
		}
		text, err := m.caption(e.ctx, img, captionParams{Prompt: *prompt, Beams: *beam, MaxNewTokens: *maxTokens})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch {
		case *c.format == "json":
			results = append(results, CaptionResult{Image: path, Text: text})
		case len(pos) > 1:
			fmt.Fprintf(w, "%s: %s\n", path, text)
		default:
			fmt.Fprintln(w, text)
		}
	}
	if *c.format == "json" {
		err = writeJSON(w, results)
	}
	return done(err)
}

func runVQA(e *env, args []string) error {
	const usage = `[-model ID|DIR] -question TEXT [-beam N] [-max-tokens N] [-format text|json] [-o FILE] IMAGE...`
	fs := flagSet("vqa")
	c := commonFlags(fs, defaultVQAModel, "text", "text or json")
	question := fs.String("question", "", "the question to answer about each image")
	beam := fs.Int("beam", 0, "beam-search width (0: the model's setting, 1: greedy)")
	maxTokens := fs.Int("max-tokens", 0, "most tokens to generate (0: the model's setting)")
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*c.format, "text", "json"); err != nil {
		return err
	}
	if strings.TrimSpace(*question) == "" {
		return usagef("no question: give it with -question")
	}
	if err := needInputs(pos, "image"); err != nil {
		return err
	}
	m, err := e.loadFor(*c.model, taskVQA)
	if err != nil {
		return err
	}
	defer m.Close()
	w, done := c.output(e)
	var results []AnswerResult
	for _, path := range pos {
		img, err := decodeImageFile(path)
		if err != nil {
			return err
		}
		ans, err := m.answer(e.ctx, img, *question, captionParams{Beams: *beam, MaxNewTokens: *maxTokens})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch {
		case *c.format == "json":
			results = append(results, AnswerResult{Image: path, Question: *question, Answer: ans})
		case len(pos) > 1:
			fmt.Fprintf(w, "%s: %s\n", path, ans)
		default:
			fmt.Fprintln(w, ans)
		}
	}
	if *c.format == "json" {
		err = writeJSON(w, results)
	}
	return done(err)
}

func runTranscribe(e *env, args []string) error {
	const usage = `[-model ID|DIR] [-language CODE] [-task transcribe|translate] [-timestamps] [-words] [-beam N] [-prompt TEXT] [-temperature T] [-fallback INC] [-format text|json|verbose_json|srt|vtt] [-o FILE] AUDIO...

Reads WAV, FLAC, MP3 and Ogg Vorbis files. The formats are those of OpenAI's
audio API (response_format): "goformer serve" returns the same bytes.`
	fs := flagSet("transcribe")
	c := commonFlags(fs, defaultTranscribeModel, "text", strings.Join(transcriptFormats, ", "))
	language := fs.String("language", "", `spoken language, a code ("en") or name ("english"); empty: detect (Whisper)`)
	task := fs.String("task", taskTranscribe, "transcribe, or translate to English (Whisper)")
	timestamps := fs.Bool("timestamps", false, "text format: one line per segment with its start and end")
	words := fs.Bool("words", false, "word-level timestamps (verbose_json words, srt/vtt and -timestamps use them)")
	beam := fs.Int("beam", 0, "beam-search width (Whisper; 0 or 1: greedy)")
	prompt := fs.String("prompt", "", "text that precedes the audio: spellings, style (Whisper)")
	temperature := fs.Float64("temperature", 0, "sampling temperature of the first try (0: greedy)")
	fallback := fs.Float64("fallback", defaultFallback, "temperature increment when a window fails OpenAI's quality thresholds (0: no fallback)")
	pos, err := parse(e, fs, usage, args)
	if err != nil {
		return err
	}
	if !validTranscriptFormat(*c.format) {
		return usagef("-format %q: want %s", *c.format, strings.Join(transcriptFormats, ", "))
	}
	if *task != taskTranscribe && *task != taskTranslate {
		return usagef("-task %q: want transcribe or translate", *task)
	}
	if err := needInputs(pos, "audio file"); err != nil {
		return err
	}
	if len(pos) > 1 && *c.format != "text" {
		return usagef("-format %s takes one audio file (got %d)", *c.format, len(pos))
	}
	m, err := e.loadFor(*c.model, *task)
	if err != nil {
		return err
	}
	defer m.Close()
	w, done := c.output(e)
	for _, path := range pos {
		pcm, err := readAudioFile(path, m.sampleRate())
		if err != nil {
			return err
		}
		seconds := float64(len(pcm)) / float64(m.sampleRate())
		total := int64(math.Ceil(seconds))
		b := newBar(e.stderr, total, "transcribing "+filepath.Base(path)+" (seconds)", false)
		p := transcribeParams{
			Task: *task, Language: *language, Prompt: *prompt, Temperature: *temperature,
			Fallback: *fallback, Beam: *beam, Words: *words,
			Progress: func(s float64) { b.set(min(int64(s), total)) },
		}
		t, err := m.transcribe(e.ctx, pcm, p)
		b.finish()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(pos) > 1 {
			fmt.Fprintf(w, "%s:\n", path)
		}
		if *c.format == "text" && *timestamps {
			err = writeTimestamped(w, t)
		} else {
			err = writeTranscript(w, t, *c.format, granularities{segments: true, words: *words})
		}
		if err != nil {
			return done(err)
		}
	}
	return done(nil)
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
