#include "stream_name.h"

#include <string.h>

int stream_name_valid(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max || strstr(s, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '%' || c == '\\' || c == '"' ||
            c == '/')
            return 0;
    }
    return 1;
}
