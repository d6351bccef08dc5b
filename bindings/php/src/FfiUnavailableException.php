<?php

declare(strict_types=1);

namespace Gearlet;

/**
 * PHP cannot call gearlet: the FFI extension is missing or disabled, the shared library or the
 * header was not found. The message says what to change; it is meant to be shown as is.
 */
final class FfiUnavailableException extends GearletException
{
}
