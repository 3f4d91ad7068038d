package config

import (
	"bytes"
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path and parses it with the process
// environment; relative *_file paths resolve against the file's directory.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	// One byte more than allowed, so that Parse can tell the file is too
	// large without reading all of it.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data, path, os.LookupEnv)
}

// MaxFileSize bounds a configuration file: a real one is a few KiB, and
// the YAML parser's time and memory grow with its input.
const MaxFileSize = 1 << 20

// Parse turns one YAML document into a validated Config: strict decoding,
// ${NAME} expansion through lookupEnv, *_file secrets read relative to
// filename's directory, defaults, then Validate. Every error is an *Error
// listing the problems of all these stages at once, in file order;
// filename labels its problems. An empty document yields Default(). A nil
// lookupEnv treats every variable as unset.
func Parse(data []byte, filename string, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	fail := func(problems []Problem) (*Config, error) {
		// Problems come from several passes; in file order they read like
		// the file.
		slices.SortStableFunc(problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
		return nil, &Error{File: filename, Problems: problems}
	}

	if len(data) > MaxFileSize {
		// The line where the file goes past the limit.
		line := bytes.Count(data[:MaxFileSize], []byte("\n")) + 1
		return fail([]Problem{{Line: line, Message: fmt.Sprintf("configuration file is larger than %d MiB", MaxFileSize>>20)}})
	}
	root, problems := parseDocument(data)
	if len(problems) > 0 {
		// Without a document tree there is nothing further to check.
		return fail(problems)
	}
	// Every later stage runs even when an earlier one found problems, so
	// that one pass reports everything; a value decoding refused is left
	// out of what validation says, which would only repeat it as missing.
	c := &Config{}
	broken := map[string]bool{}
	if root != nil {
		d := &decoder{lookupEnv: lookupEnv, lines: map[string]int{}, broken: broken}
		d.decode(root, reflect.ValueOf(c).Elem(), "")
		if d.nodes > maxNodes {
			// The rest of the document was not read.
			return fail(d.problems)
		}
		problems = append(problems, d.problems...)
		c.lines = d.lines
	}

	resolvePaths(reflect.ValueOf(c).Elem(), filepath.Dir(filename))
	for _, p := range c.readSecretFiles() {
		problems = append(problems, p)
		broken[strings.TrimSuffix(p.Path, "_file")] = true
	}
	c.ApplyDefaults()
	for _, p := range c.validate() {
		if !repeats(p, broken) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return fail(problems)
	}
	return c, nil
}

// repeats reports whether a validation problem only restates one decoding
// reported: it sits at a broken value or inside one, or it is about the
// mapping that directly holds one and names that key ("a token is required
// (token, token_file or tokens)" beside a token whose variable is unset).
func repeats(p Problem, broken map[string]bool) bool {
	for q := p.Path; ; q = parentPath(q) {
		if broken[q] {
			return true
		}
		if q == "" {
			break
		}
	}
	if p.Path == "" {
		return false
	}
	for b := range broken {
		if b == "" || parentPath(b) != p.Path {
			continue
		}
		key := b[len(p.Path):]
		key = strings.TrimPrefix(key, ".")
		if i := strings.IndexByte(key, '['); i >= 0 {
			key = key[:i]
		}
		words := strings.FieldsFunc(p.Message, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_'
		})
		if key != "" && slices.Contains(words, key) {
			return true
		}
	}
	return false
}

// yamlErrorLine matches yaml.v3's syntax errors, "yaml: line 3: did not
// find expected key".
var yamlErrorLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument returns the document's root node, nil for an empty
// document (nothing, only comments, or a lone null).
func parseDocument(data []byte) (*yaml.Node, []Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, []Problem{syntaxProblem(err, data)}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, []Problem{syntaxProblem(err, data)}
	default:
		return nil, []Problem{{Line: next.Line, Message: "only one YAML document is allowed"}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil
	}
	return doc.Content[0], nil
}

// syntaxProblem places a YAML syntax error. yaml.v3 names no line for an
// error on the first line nor for a character it refuses (a control
// character, broken UTF-8); those are placed here.
func syntaxProblem(err error, data []byte) Problem {
	if m := yamlErrorLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Line: line, Message: "invalid YAML: " + m[2]}
	}
	return Problem{Line: badCharLine(data), Message: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}

// badCharLine returns the line of the first byte that is not UTF-8 or is a
// control character other than tab, newline and carriage return; 1 when
// there is none.
func badCharLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if (r == utf8.RuneError && size == 1) || (unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' && r != 0x85) {
			return line
		}
		if r == '\n' {
			line++
		}
		i += size
	}
	return 1
}

// maxNodes bounds the nodes decoded, so that a few aliases of aliases (a
// "billion laughs" document) cannot exhaust memory.
const maxNodes = 100_000

// decoder maps YAML nodes onto the Config structs by their yaml tags. It is
// ours rather than yaml.v3's Decode so that every problem carries the key
// path and line, and so that decoding goes on after the first problem.
type decoder struct {
	lookupEnv func(string) (string, bool)
	lines     map[string]int // key path -> line of the key
	problems  []Problem
	nodes     int
	inAlias   map[*yaml.Node]bool
	// broken holds the key paths whose values could not be decoded.
	broken map[string]bool
}

// problem reports a problem with the document's shape (an unknown or
// repeated key) at path.
func (d *decoder) problem(path string, line int, format string, args ...any) {
	d.problems = append(d.problems, Problem{Path: path, Line: line, Message: fmt.Sprintf(format, args...)})
}

// bad reports a value at path that could not be decoded; the field keeps
// its zero value.
func (d *decoder) bad(path string, line int, format string, args ...any) {
	d.problem(path, line, format, args...)
	if d.broken != nil {
		d.broken[path] = true
	}
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.problem(path, n.Line, "document too large (more than %d values after alias expansion)", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if d.inAlias[n.Alias] {
			d.bad(path, n.Line, "alias *%s refers to itself", n.Value)
			return
		}
		if d.inAlias == nil {
			d.inAlias = map[*yaml.Node]bool{}
		}
		d.inAlias[n.Alias] = true
		d.decode(n.Alias, v, path)
		delete(d.inAlias, n.Alias)
		return
	}
	if isNull(n) {
		// A key with no value ("saml:") leaves the field at its zero value.
		v.SetZero()
		return
	}
	if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		if text, ok := d.scalar(n, path); ok {
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
				d.bad(path, n.Line, "%v", err)
			}
		}
		return
	}

	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.bad(path, n.Line, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p] = item.Line
			d.decode(item, s.Index(i), p)
		}
		v.Set(s)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if text, ok := d.scalar(n, path); ok {
			v.SetString(text)
		}
	case reflect.Bool:
		if text, ok := d.scalar(n, path); ok {
			switch strings.ToLower(text) {
			case "true":
				v.SetBool(true)
			case "false":
				v.SetBool(false)
			default:
				d.bad(path, n.Line, "expected true or false, got %q", text)
			}
		}
	case reflect.Int:
		if text, ok := d.scalar(n, path); ok {
			i, err := strconv.ParseInt(text, 10, 64)
			if err != nil {
				d.bad(path, n.Line, "expected a whole number, got %q", text)
				return
			}
			v.SetInt(i)
		}
	case reflect.Float64:
		if text, ok := d.scalar(n, path); ok {
			f, err := strconv.ParseFloat(text, 64)
			if err != nil {
				d.bad(path, n.Line, "expected a number, got %q", text)
				return
			}
			v.SetFloat(f)
		}
	default:
		// Only reachable when a field of an unsupported type is added to
		// Config; the tests decode every field.
		d.bad(path, n.Line, "cannot decode into %s", v.Type())
	}
}

// decodeStruct decodes a mapping into a struct, refusing unknown and
// repeated keys. A "<<" merge key decodes the merged mapping first, so that
// the keys written beside it win.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.bad(path, n.Line, "expected a mapping, got %s", describe(n))
		return
	}
	fields := map[string][]int{}
	for _, f := range yamlFields(v.Type()) {
		fields[f.name] = f.index
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Kind == yaml.ScalarNode && key.Tag == "!!merge" {
			d.decodeMerge(value, v, path)
			continue
		}
		if key.Kind != yaml.ScalarNode {
			d.problem(path, key.Line, "keys must be plain words, got %s", describe(key))
			continue
		}
		if first, dup := seen[key.Value]; dup {
			d.problem(path, key.Line, "key %q repeated (first at line %d)", key.Value, first)
			continue
		}
		seen[key.Value] = key.Line
		index, ok := fields[key.Value]
		if !ok {
			d.problem(path, key.Line, "unknown key %q", key.Value)
			continue
		}
		p := joinPath(path, key.Value)
		if !isNull(value) {
			// A key without a value counts as left out, so that
			// ApplyDefaults fills it.
			d.lines[p] = key.Line
		}
		d.decode(value, v.FieldByIndex(index), p)
	}
}

func (d *decoder) decodeMerge(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.SequenceNode {
		for _, m := range n.Content {
			d.decode(m, v, path)
		}
		return
	}
	d.decode(n, v, path)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.bad(path, n.Line, "expected a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Kind != yaml.ScalarNode {
			d.problem(path, key.Line, "keys must be plain text, got %s", describe(key))
			continue
		}
		if first, dup := seen[key.Value]; dup {
			d.problem(path, key.Line, "key %q repeated (first at line %d)", key.Value, first)
			continue
		}
		seen[key.Value] = key.Line
		p := mapKeyPath(path, key.Value)
		d.lines[p] = key.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(value, elem, p)
		m.SetMapIndex(reflect.ValueOf(key.Value), elem)
	}
	v.Set(m)
}

// scalar returns a scalar node's text with ${NAME} expanded.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.bad(path, n.Line, "expected a single value, got %s", describe(n))
		return "", false
	}
	text, err := expand(n.Value, d.lookupEnv)
	if err != nil {
		d.bad(path, n.Line, "%v", err)
		return "", false
	}
	return text, true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return strconv.Quote(n.Value)
}

// expand replaces each ${NAME} in s with the variable's value; "$${" is a
// literal "${". It works on one decoded scalar, so a variable's value can
// never add YAML structure.
func expand(s string, lookupEnv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf(`unterminated "${" (write "$${" for a literal "${")`)
		}
		name := s[i+2 : i+end]
		if !envName.MatchString(name) {
			return "", fmt.Errorf("invalid environment variable name %q in ${...}", name)
		}
		value, ok := lookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %q is not set", name)
		}
		b.WriteString(value)
		s = s[i+end+1:]
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// yamlField is a struct field reachable under a YAML key, through inline
// structs.
type yamlField struct {
	name  string
	index []int
}

// yamlFields lists the YAML keys of struct type t in declaration order.
func yamlFields(t reflect.Type) []yamlField {
	var fields []yamlField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if opts == "inline" {
			for _, inner := range yamlFields(f.Type) {
				fields = append(fields, yamlField{inner.name, append([]int{i}, inner.index...)})
			}
			continue
		}
		fields = append(fields, yamlField{name, []int{i}})
	}
	return fields
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func mapKeyPath(path, key string) string {
	return fmt.Sprintf("%s[%q]", path, key)
}

// resolvePaths makes every relative *_file path relative to dir, the config
// file's directory, so that the daemon's working directory does not matter.
func resolvePaths(v reflect.Value, dir string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			resolvePaths(v.Elem(), dir)
		}
	case reflect.Slice:
		for i := range v.Len() {
			resolvePaths(v.Index(i), dir)
		}
	case reflect.Struct:
		for _, f := range yamlFields(v.Type()) {
			fv := v.FieldByIndex(f.index)
			if strings.HasSuffix(f.name, "_file") && fv.Kind() == reflect.String {
				if p := fv.String(); p != "" && !filepath.IsAbs(p) {
					fv.SetString(filepath.Join(dir, p))
				}
				continue
			}
			if strings.HasSuffix(f.name, "_files") && fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String {
				for i := range fv.Len() {
					if p := fv.Index(i).String(); p != "" && !filepath.IsAbs(p) {
						fv.Index(i).SetString(filepath.Join(dir, p))
					}
				}
				continue
			}
			resolvePaths(fv, dir)
		}
	}
}

// secret is a value that may instead be read from a file: the key at path,
// or the key at path + "_file".
type secret struct {
	path        string
	value, file *string
}

func (c *Config) secrets() []secret {
	s := []secret{
		{"store.dsn", &c.Store.DSN, &c.Store.DSNFile},
		{"smtp.url", &c.SMTP.URL, &c.SMTP.URLFile},
		{"secrets_key", &c.SecretsKey, &c.SecretsKeyFile},
	}
	for i := range c.AdminKeys {
		k := &c.AdminKeys[i]
		s = append(s, secret{fmt.Sprintf("admin_keys[%d].key", i), &k.Key, &k.KeyFile})
	}
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		s = append(s, secret{fmt.Sprintf("webhooks[%d].secret", i), &w.Secret, &w.SecretFile})
	}
	for ti := range c.Tenants {
		t := &c.Tenants[ti]
		for i := range t.SCIM {
			conn := &t.SCIM[i]
			s = append(s, secret{fmt.Sprintf("tenants[%d].scim[%d].token", ti, i), &conn.Token, &conn.TokenFile})
		}
		for i := range t.Feeds {
			f := &t.Feeds[i]
			p := fmt.Sprintf("tenants[%d].feeds[%d]", ti, i)
			s = append(s,
				secret{p + ".sftp.password", &f.File.SFTP.Password, &f.File.SFTP.PasswordFile},
				secret{p + ".upload.token", &f.File.Upload.Token, &f.File.Upload.TokenFile},
				secret{p + ".upload.password", &f.File.Upload.Password, &f.File.Upload.PasswordFile},
				secret{p + ".bind_password", &f.LDAP.BindPassword, &f.LDAP.BindPasswordFile})
		}
	}
	return s
}

// readSecretFiles moves each *_file's content into its sibling key and
// clears the *_file key, so that after Parse a secret has one place. A key
// set both ways is left for Validate to report.
func (c *Config) readSecretFiles() []Problem {
	var problems []Problem
	for _, s := range c.secrets() {
		if *s.file == "" || *s.value != "" {
			continue
		}
		path := s.path + "_file"
		data, err := os.ReadFile(*s.file)
		if err != nil {
			problems = append(problems, Problem{Path: path, Line: c.lineOf(path), Message: fmt.Sprintf("cannot read secret: %v", err)})
			continue
		}
		text, found := strings.CutSuffix(string(data), "\n")
		if found {
			text = strings.TrimSuffix(text, "\r")
		}
		if text == "" {
			problems = append(problems, Problem{Path: path, Line: c.lineOf(path), Message: fmt.Sprintf("secret file %s is empty", *s.file)})
			continue
		}
		*s.value, *s.file = text, ""
	}
	return problems
}
