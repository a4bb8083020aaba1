<?php
/*
 * Install WordPress and fill it through WordPress's own functions, as its editor would.
 *   php seed_wordpress.php WP_DIR SPEC.json   -> prints what WordPress made, as JSON
 * SPEC: {"title", "users": [{"login", "name"}], "posts": [{"key", "author", "title",
 *   "content", "date_gmt", "status", "password", "photos": {KEY: PATH}, "featured": KEY,
 *   "after": "trash" | "delete" | null}]}
 * In "content", {img:KEY:SIZE} becomes a block-editor image of that size and
 * {classic:KEY:SIZE} a classic-editor image linked to the uploaded original.
 */

[$script, $wp_dir, $spec_path] = $argv;
$spec = json_decode(file_get_contents($spec_path), true);

define('WP_INSTALLING', true);
require $wp_dir . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/file.php';
require_once ABSPATH . 'wp-admin/includes/media.php';
require_once ABSPATH . 'wp-admin/includes/image.php';
add_filter('pre_wp_mail', '__return_true');  // no mail leaves the machine

$installed = wp_install($spec['title'], 'admin', 'admin@example.org', true, '',
                        wp_generate_password(24));
update_option('permalink_structure', '/%year%/%monthnum%/%postname%/');
wp_delete_post(1, true);  // WordPress's "Hello world!" and sample page: not ours
wp_delete_post(2, true);
wp_delete_post(3, true);

$users = [];
foreach ($spec['users'] as $user) {
    $users[$user['login']] = wp_insert_user([
        'user_login' => $user['login'], 'display_name' => $user['name'],
        'user_email' => $user['login'] . '@example.org', 'role' => 'author',
        'user_pass' => wp_generate_password(24)]);
}
wp_set_current_user($installed['user_id']);  // an administrator may post <style>

function image_markup(array $attachment, string $size, bool $classic): string {
    $id = $attachment['id'];
    $src = wp_get_attachment_image_src($id, $size)[0];
    if ($classic) {
        return sprintf('<a href="%s"><img class="alignnone size-%s wp-image-%d" src="%s" alt="" /></a>',
                       $attachment['original'], $size, $id, $src);
    }
    return sprintf("<!-- wp:image {\"id\":%d,\"sizeSlug\":\"%s\",\"linkDestination\":\"none\"} -->\n"
                   . '<figure class="wp-block-image size-%s"><img src="%s" alt="" class="wp-image-%d"/></figure>'
                   . "\n<!-- /wp:image -->", $id, $size, $size, $src, $id);
}

$out = [];
foreach ($spec['posts'] as $post) {
    $id = wp_insert_post([
        'post_author' => $users[$post['author']], 'post_title' => $post['title'],
        'post_content' => '', 'post_status' => 'draft', 'post_type' => $post['type'] ?? 'post',
        'post_date' => $post['date_gmt'], 'post_date_gmt' => $post['date_gmt'],
        'post_password' => $post['password'] ?? ''], true);
    if (is_wp_error($id)) { fwrite(STDERR, $id->get_error_message()); exit(1); }
    $attachments = [];
    foreach ($post['photos'] ?? [] as $key => $path) {
        $copy = wp_tempnam($path);
        copy($path, $copy);
        $attachment_id = media_handle_sideload(['name' => basename($path), 'tmp_name' => $copy],
                                               $id, $key, ['post_author' => $users[$post['author']]]);
        if (is_wp_error($attachment_id)) {
            fwrite(STDERR, $attachment_id->get_error_message()); exit(1);
        }
        $sizes = [];
        foreach (array_keys(wp_get_attachment_metadata($attachment_id)['sizes'] ?? []) as $size) {
            $sizes[$size] = wp_get_attachment_image_src($attachment_id, $size)[0];
        }
        $attachments[$key] = [
            'key' => $key, 'id' => $attachment_id,
            'original' => wp_get_original_image_url($attachment_id),
            'original_file' => wp_get_original_image_path($attachment_id),
            'url' => wp_get_attachment_url($attachment_id), 'sizes' => $sizes];
    }
    $content = preg_replace_callback('/\{(img|classic):(\w+):([\w-]+)\}/',
        fn($m) => image_markup($attachments[$m[2]], $m[3], $m[1] === 'classic'),
        $post['content']);
    wp_update_post(['ID' => $id, 'post_content' => $content, 'post_status' => $post['status']]);
    if (!empty($post['featured'])) {
        set_post_thumbnail($id, $attachments[$post['featured']]['id']);
    }
    $status = $post['status'];
    if (($post['after'] ?? null) === 'trash') { wp_trash_post($id); $status = 'trash'; }
    if (($post['after'] ?? null) === 'delete') { wp_delete_post($id, true); $status = 'deleted'; }
    $out[] = [
        'key' => $post['key'], 'id' => $id, 'type' => $post['type'] ?? 'post',
        'status' => $status, 'protected' => !empty($post['password']),
        'title' => $post['title'], 'author' => $post['author'],
        'date_gmt' => str_replace(' ', 'T', $post['date_gmt']),
        'attachments' => array_values($attachments)];
}
echo json_encode(['posts' => $out, 'uploads' => wp_get_upload_dir()['basedir']],
                 JSON_UNESCAPED_SLASHES), "\n";
