/* version: the one version string of cape (the binary, the library and the
 * JSON documents they write). */
#ifndef CAPE_VERSION_H
#define CAPE_VERSION_H

#define CAPE_VERSION "0.1.0"

#endif
