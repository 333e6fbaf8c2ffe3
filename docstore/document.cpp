#include "docstore/document.h"

namespace folio::docstore {

const char* DocumentKindName(DocumentKind k) {
  switch (k) {
    case DocumentKind::kPdf: return "pdf";
    case DocumentKind::kText: return "text";
    case DocumentKind::kMarkdown: return "markdown";
  }
  return "text";
}

}  // namespace folio::docstore
