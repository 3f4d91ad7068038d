package filefeed

import (
	"archive/zip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// xlsxFirstVisibleSheet finds the roster sheet — the first sheet of the
// workbook that is not hidden, as excelize's GetSheetList and
// GetSheetVisible tell it — and its part, through the workbook's
// relationships as excelize resolves them.
func xlsxFirstVisibleSheet(zr *zip.Reader) (sheet, part string, err error) {
	var wb struct {
		Sheets []struct {
			Name  string `xml:"name,attr"`
			State string `xml:"state,attr"`
			ID    string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels struct {
		Rels []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if err := xlsxReadXML(zr, "xl/workbook.xml", &wb); err != nil {
		return "", "", err
	}
	if err := xlsxReadXML(zr, "xl/_rels/workbook.xml.rels", &rels); err != nil {
		return "", "", err
	}
	for _, s := range wb.Sheets {
		if s.State == "hidden" || s.State == "veryHidden" {
			continue
		}
		for _, r := range rels.Rels {
			if r.ID == s.ID {
				if t, ok := strings.CutPrefix(r.Target, "/"); ok {
					return s.Name, t, nil
				}
				return s.Name, path.Join("xl", r.Target), nil
			}
		}
		return "", "", fmt.Errorf("no part for sheet %q", s.Name)
	}
	return "", "", errors.New("the workbook has no visible sheet")
}

// xlsxOpen opens a part by its name, compared as excelize does (case and
// slashes aside).
func xlsxOpen(zr *zip.Reader, name string) (io.ReadCloser, error) {
	for _, f := range zr.File {
		if strings.EqualFold(strings.ReplaceAll(f.Name, `\`, "/"), name) {
			return f.Open()
		}
	}
	return nil, fmt.Errorf("the workbook has no part %s", name)
}

func xlsxReadXML(zr *zip.Reader, name string, v any) error {
	rc, err := xlsxOpen(zr, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	return xml.NewDecoder(rc).Decode(v)
}

// xlsxCellAttrs streams a worksheet's XML beside excelize's Rows, a row at
// a time, for what Rows does not give: each cell's type and style.
// (excelize's GetCellType and GetCellStyle unmarshal the whole sheet and
// grow it to every cell they are asked about: some 16 times its XML in
// memory, where this holds one row.)
type xlsxCellAttrs struct {
	rc  io.ReadCloser
	dec *xml.Decoder

	colStyles []xlsxColStyle // from <cols>, before the rows
	next      xlsxRowAttrs   // the row read ahead; num 0 before the first
	cur       xlsxRowAttrs   // the row asked for last
	lastRow   int
	done      bool
}

type xlsxColStyle struct{ min, max, style int }

type xlsxRowAttrs struct {
	num, style int
	cells      map[int]xlsxCellAttr // by column
}

type xlsxCellAttr struct {
	typ   string
	style int
}

func openXLSXCellAttrs(zr *zip.Reader, sheetPath string) (*xlsxCellAttrs, error) {
	rc, err := xlsxOpen(zr, sheetPath)
	if err != nil {
		return nil, err
	}
	x := &xlsxCellAttrs{rc: rc, dec: xml.NewDecoder(rc)}
	x.cur.cells, x.next.cells = map[int]xlsxCellAttr{}, map[int]xlsxCellAttr{}
	return x, nil
}

func (x *xlsxCellAttrs) Close() error { return x.rc.Close() }

// cell returns the type ("" for none, "n", "s", "b", …) and the style of
// the cell at col and row, as excelize's GetCellType and GetCellStyle do
// (a cell without a style takes its row's, then its column's). Rows are
// asked for in increasing order.
func (x *xlsxCellAttrs) cell(col, row int) (typ string, style int, err error) {
	if x.cur.num != row {
		for !x.done && x.next.num < row {
			if err := x.readRow(); err != nil {
				return "", 0, err
			}
		}
		if x.next.num == row {
			x.cur, x.next = x.next, x.cur
			x.next.num = 0
			clear(x.next.cells)
			if !x.done {
				if err := x.readRow(); err != nil {
					return "", 0, err
				}
			}
		} else {
			x.cur.num, x.cur.style = row, 0
			clear(x.cur.cells)
		}
	}
	c := x.cur.cells[col]
	style = c.style
	if style == 0 {
		style = x.cur.style
	}
	if style == 0 {
		for _, cs := range x.colStyles {
			if cs.min <= col && col <= cs.max && cs.style != 0 {
				style = cs.style
				break
			}
		}
	}
	return c.typ, style, nil
}

// readRow reads the next <row> into x.next, or sets done.
func (x *xlsxCellAttrs) readRow() error {
	x.next.num, x.next.style = 0, 0
	clear(x.next.cells)
	inRow, lastCol := false, 0
	for {
		tok, err := x.dec.RawToken()
		if err == io.EOF {
			x.done = true
			if inRow {
				return errors.New("the sheet's XML ends inside a row")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the sheet's XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "col" && !inRow:
				cs := xlsxColStyle{min: attrInt(t, "min"), max: attrInt(t, "max"), style: attrInt(t, "style")}
				x.colStyles = append(x.colStyles, cs)
			case t.Name.Local == "row" && !inRow:
				inRow, lastCol = true, 0
				x.next.num = attrInt(t, "r")
				if x.next.num == 0 {
					x.next.num = x.lastRow + 1
				}
				if x.next.num > excelize.TotalRows {
					return fmt.Errorf("row %d is beyond a sheet's %d rows", x.next.num, excelize.TotalRows)
				}
				x.lastRow = x.next.num
				x.next.style = attrInt(t, "s")
			case t.Name.Local == "c" && inRow:
				col := lastCol + 1
				if ref := attr(t, "r"); ref != "" {
					if c, _, err := excelize.CellNameToCoordinates(ref); err == nil {
						col = c
					}
				}
				lastCol = col
				x.next.cells[col] = xlsxCellAttr{typ: attr(t, "t"), style: attrInt(t, "s")}
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "row":
				if inRow {
					return nil
				}
			case "sheetData":
				x.done = true
				return nil
			}
		}
	}
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

func attrInt(t xml.StartElement, name string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(attr(t, name)))
	return max(n, 0)
}
