package dropbox

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

func withBody(typ byte, strs ...string) []byte {
	body := []byte{typ, 0, 0, 0, 7}
	for _, s := range strs {
		body = binary.BigEndian.AppendUint32(body, uint32(len(s)))
		body = append(body, s...)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestDotDotReader: every path with a ".." element becomes refusedPath,
// in the packets that carry paths; other packets and paths pass as sent.
func TestDotDotReader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want []byte
	}{
		{"open with ..", withBody(3, "/../x.csv", "\x00\x00\x00\x1a"), withBody(3, refusedPath, "\x00\x00\x00\x1a")},
		{"relative ..", withBody(3, "../acme.payroll/x.csv"), withBody(3, refusedPath)},
		{"inner ..", withBody(17, "/a/../x.csv"), withBody(17, refusedPath)},
		{"plain open", withBody(3, "/x.csv"), withBody(3, "/x.csv")},
		{"dots in a name", withBody(3, "/x..csv"), withBody(3, "/x..csv")},
		{"rename, second path", withBody(18, "/a.csv", "/../b.csv"), withBody(18, "/a.csv", refusedPath)},
		{"posix-rename", withBody(200, "posix-rename@openssh.com", "/../a", "/b"), withBody(200, "posix-rename@openssh.com", refusedPath, "/b")},
		{"write data", withBody(6, "handle", "../../data"), withBody(6, "handle", "../../data")},
		{"realpath ..", withBody(16, ".."), withBody(16, refusedPath)},
		{"truncated", append(binary.BigEndian.AppendUint32(nil, 9), 3, 0, 0, 0, 7, 0, 0, 0, 99), append(binary.BigEndian.AppendUint32(nil, 9), 3, 0, 0, 0, 7, 0, 0, 0, 99)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := io.ReadAll(&dotDotReader{r: bytes.NewReader(append(tc.in, withBody(1)...))})
			if err != nil {
				t.Fatal(err)
			}
			if want := append(tc.want, withBody(1)...); !bytes.Equal(got, want) {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
		})
	}
	if _, err := io.ReadAll(&dotDotReader{r: bytes.NewReader(binary.BigEndian.AppendUint32(nil, maxClientPacket+1))}); err == nil {
		t.Fatal("an oversized packet passed")
	}
}
