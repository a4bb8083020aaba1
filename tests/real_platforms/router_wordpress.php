<?php
/*
 * Router for `php -S`: what WordPress's .htaccess asks of Apache (mod_rewrite). An
 * existing file is served as it is; any other path (/wp-json/..., /robots.txt, pretty
 * permalinks) goes to WordPress's index.php.
 */
$path = urldecode(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH));
if ($path !== '/' && is_file($_SERVER['DOCUMENT_ROOT'] . $path)) {
    return false;
}
// php -S logs only what it serves itself: log WordPress's answers in the same form
register_shutdown_function(fn() => error_log(sprintf('%s:%s [%d]: %s %s',
    $_SERVER['REMOTE_ADDR'], $_SERVER['REMOTE_PORT'], http_response_code(),
    $_SERVER['REQUEST_METHOD'], $_SERVER['REQUEST_URI'])));
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = $_SERVER['DOCUMENT_ROOT'] . '/index.php';
require $_SERVER['DOCUMENT_ROOT'] . '/index.php';
