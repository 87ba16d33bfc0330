//! Region rules, one test per RemoteControl checklist row (RC-nn) the model decides.

use dispatcher_scene::{
    AssetType, DynamicsUpdate, FindQuery, Part, Quaternion, Region, RezParams, SceneChange, SceneError, SceneLimits, SceneObject,
    SunUpdate, TaskInventoryItem, Uuid, Vector3,
};

fn u(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

const CALLER: Uuid = Uuid::from_u128(0x7e1b);

/// The checklist's fixture `T`: root + child with LinkNum 2, an object item.
fn template() -> SceneObject {
    let mut root = Part::new(u(1), "Table");
    root.inventory.push(TaskInventoryItem::new(u(10), "tile", AssetType::Object, u(20)));
    let mut leg = Part::new(u(2), "Leg");
    leg.offset_position = Vector3::new(-0.9, -0.4, -0.5);
    SceneObject::linked(root, vec![leg], Vector3::ZERO)
}

fn counter(start: u128) -> impl FnMut() -> Uuid {
    let mut n = start;
    move || {
        n += 1;
        Uuid::from_u128(n)
    }
}

fn region_with(objects: &[(u128, &str, Vector3)]) -> Region {
    let mut region = Region::new(u(0xbeef), "Test Region");
    let mut ids = counter(1_000_000);
    for (id, name, pos) in objects {
        let params = RezParams {
            object_id: Some(u(*id)),
            name: name.to_string(),
            owner_id: CALLER,
            position: *pos,
            ..RezParams::default()
        };
        region.rez_object(&template(), &params, &mut ids).unwrap();
    }
    region
}

#[test]
fn rc_08_child_part_id_does_not_resolve() {
    let region = region_with(&[(100, "a", Vector3::new(10.0, 10.0, 20.0))]);
    let child = region.object(u(100)).unwrap().children()[0].id;
    assert!(region.object(child).is_none());
    assert!(region.object(Uuid::nil()).is_none());
}

#[test]
fn rc_09_find_all_in_creation_order() {
    let region = region_with(&[
        (300, "c", Vector3::new(1.0, 1.0, 1.0)),
        (100, "a", Vector3::new(2.0, 2.0, 2.0)),
        (200, "b", Vector3::new(3.0, 3.0, 3.0)),
    ]);
    assert_eq!(region.find_objects(&FindQuery::default(), |_| true), vec![u(300), u(100), u(200)]);
}

#[test]
fn rc_10_box_inclusive_any_corner_order_half_infinite() {
    let region = region_with(&[(1, "a", Vector3::new(10.0, 10.0, 10.0)), (2, "b", Vector3::new(20.0, 20.0, 20.0))]);
    let q = FindQuery {
        corner_a: Vector3::new(20.0, 20.0, 20.0),
        corner_b: Vector3::new(10.0, 10.0, 10.0),
        ..FindQuery::default()
    };
    assert_eq!(region.find_objects(&q, |_| true), vec![u(1), u(2)]);
    let q = FindQuery {
        corner_a: Vector3::new(15.0, 0.0, 0.0),
        ..FindQuery::default()
    };
    assert_eq!(region.find_objects(&q, |_| true), vec![u(2)]);
}

#[test]
fn rc_11_name_predicate_is_applied() {
    let region = region_with(&[(1, "Penrose Tile 3", Vector3::new(1.0, 1.0, 1.0)), (2, "Other", Vector3::new(1.0, 1.0, 1.0))]);
    assert_eq!(region.find_objects(&FindQuery::default(), |n| n.contains("Tile")), vec![u(1)]);
    assert!(region.find_objects(&FindQuery::default(), |n| n.contains("tile")).is_empty());
}

#[test]
fn rc_12_owner_filter() {
    let region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    let mine = FindQuery {
        owner_id: CALLER,
        ..FindQuery::default()
    };
    let theirs = FindQuery {
        owner_id: u(5),
        ..FindQuery::default()
    };
    assert_eq!(region.find_objects(&mine, |_| true), vec![u(1)]);
    assert!(region.find_objects(&theirs, |_| true).is_empty());
}

#[test]
fn rc_14_rc_23_created_object_data() {
    let region = region_with(&[(1, "Penrose Tile 0", Vector3::new(128.0, 128.0, 25.1))]);
    let obj = region.object(u(1)).unwrap();
    assert_eq!(obj.name(), "Penrose Tile 0");
    assert_eq!(obj.owner_id(), CALLER);
    assert_eq!(obj.position, Vector3::new(128.0, 128.0, 25.1));
    assert_eq!(obj.part_count(), 2);
    assert_eq!(obj.description(), "RemoteControl Generated Object");
}

#[test]
fn rc_15_parts_root_first_with_offsets_and_rotation() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    let rot = Quaternion::new(0.0, 0.0, std::f32::consts::FRAC_1_SQRT_2, std::f32::consts::FRAC_1_SQRT_2);
    region.set_object_rotation(u(1), rot).unwrap();
    let obj = region.object(u(1)).unwrap();
    let parts: Vec<(i32, &str)> = obj.parts().map(|p| (p.link_num, p.name.as_str())).collect();
    assert_eq!(parts, vec![(1, "a"), (2, "Leg")]);
    assert_eq!(obj.root().rotation_offset, obj.rotation());
    assert_eq!(obj.children()[0].offset_position, Vector3::new(-0.9, -0.4, -0.5));
}

#[test]
fn rc_16_root_inventory() {
    let region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    let inv = &region.object(u(1)).unwrap().root().inventory;
    assert_eq!(inv.len(), 1);
    assert_eq!((inv[0].name.as_str(), inv[0].asset_type.code(), inv[0].asset_id), ("tile", 6, u(20)));
}

#[test]
fn rc_18_rc_76_set_position_moves_whole_object_once() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    let to = Vector3::new(100.0, 90.5, 30.0);
    let changes = region.set_object_position(u(1), to).unwrap();
    assert_eq!(
        changes,
        vec![SceneChange::ObjectMoved {
            object_id: u(1),
            from: Vector3::new(1.0, 1.0, 1.0),
            to
        }]
    );
    let obj = region.object(u(1)).unwrap();
    assert_eq!(obj.position, to);
    assert_eq!(obj.children()[0].offset_position, Vector3::new(-0.9, -0.4, -0.5));
    assert_eq!(obj.rotation(), Quaternion::IDENTITY);
    // Same position again: nothing changed, so nothing to notify.
    assert!(region.set_object_position(u(1), to).unwrap().is_empty());
}

#[test]
fn rc_19_outside_region_keeps_position() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    for p in [Vector3::new(256.0, 5.0, 5.0), Vector3::new(5.0, -0.1, 5.0), Vector3::new(f32::NAN, 5.0, 5.0)] {
        assert!(region.set_object_position(u(1), p).unwrap().is_empty());
    }
    assert_eq!(region.object(u(1)).unwrap().position, Vector3::new(1.0, 1.0, 1.0));
    // Z is not limited.
    assert_eq!(region.set_object_position(u(1), Vector3::new(1.0, 1.0, 5000.0)).unwrap().len(), 1);
    assert_eq!(region.set_object_position(u(2), Vector3::ZERO), Err(SceneError::NoSuchObject(u(2))));
    assert_eq!(SceneError::NoSuchObject(u(2)).to_string(), "no such object");
}

#[test]
fn rc_20_rotation_stored_unnormalised() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    let q = Quaternion::new(0.0, 0.0, 2.0, 0.0);
    let changes = region.set_object_rotation(u(1), q).unwrap();
    assert_eq!(changes, vec![SceneChange::ObjectRotated { object_id: u(1) }]);
    assert_eq!(region.object(u(1)).unwrap().rotation(), q);
    assert_eq!(region.object(u(1)).unwrap().position, Vector3::new(1.0, 1.0, 1.0));
}

#[test]
fn rc_21_rc_22_dynamics_absent_members_unchanged() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0)), (2, "b", Vector3::new(2.0, 2.0, 2.0))]);
    let only_velocity = DynamicsUpdate {
        object_id: u(1),
        velocity: Some(Vector3::new(1.0, 0.0, 0.0)),
        ..Default::default()
    };
    let only_rotation = DynamicsUpdate {
        object_id: u(2),
        rotation: Some(Quaternion::new(0.0, 0.0, 1.0, 0.0)),
        ..Default::default()
    };
    region.apply_dynamics(&only_velocity).unwrap();
    region.apply_dynamics(&only_rotation).unwrap();
    let a = region.object(u(1)).unwrap();
    assert_eq!(
        (a.position, a.rotation(), a.velocity()),
        (Vector3::new(1.0, 1.0, 1.0), Quaternion::IDENTITY, Vector3::new(1.0, 0.0, 0.0))
    );
    let b = region.object(u(2)).unwrap();
    assert_eq!((b.position, b.rotation()), (Vector3::new(2.0, 2.0, 2.0), Quaternion::new(0.0, 0.0, 1.0, 0.0)));
    let unknown = DynamicsUpdate {
        object_id: u(3),
        position: Some(Vector3::ZERO),
        ..Default::default()
    };
    assert_eq!(region.apply_dynamics(&unknown), Err(SceneError::NoSuchObject(u(3))));
}

#[test]
fn rc_77_dynamics_position_change_is_reported() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    let upd = DynamicsUpdate {
        object_id: u(1),
        position: Some(Vector3::new(120.0, 128.0, 25.0)),
        ..Default::default()
    };
    let changes = region.apply_dynamics(&upd).unwrap();
    assert!(matches!(changes[0], SceneChange::ObjectMoved { .. }));
}

#[test]
fn rc_24_duplicate_id_fails_and_adds_nothing() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    let params = RezParams {
        object_id: Some(u(1)),
        owner_id: CALLER,
        ..RezParams::default()
    };
    let err = region.rez_object(&template(), &params, &mut counter(2_000_000)).unwrap_err();
    assert_eq!(err.to_string(), "failed to add the object to the scene");
    assert_eq!(region.object_count(), 1);
}

#[test]
fn rc_26_default_placement_and_names() {
    let mut region = Region::new(u(9), "Test Region");
    let (id, _) = region.rez_object(&template(), &RezParams::default(), &mut counter(10)).unwrap();
    let obj = region.object(id).unwrap();
    assert_eq!((obj.name(), obj.description()), ("RemoteControl Object", "RemoteControl Generated Object"));
    assert_eq!(obj.position, Vector3::new(128.0, 128.0, 20.0));
}

#[test]
fn rc_27_reuse_id_after_delete() {
    let mut region = Region::new(u(9), "Test Region");
    let params = RezParams {
        object_id: Some(u(42)),
        start_parameter: "{\"a\":1}".into(),
        ..RezParams::default()
    };
    region.rez_object(&template(), &params, &mut counter(10)).unwrap();
    assert_eq!(region.remove_object(u(42)).unwrap(), vec![SceneChange::ObjectRemoved { object_id: u(42) }]);
    region.rez_object(&template(), &params, &mut counter(20)).unwrap();
    assert_eq!(region.object(u(42)).unwrap().start_parameter.as_deref(), Some("{\"a\":1}"));
}

#[test]
fn rc_28_part_ids_unique_in_region() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    // A second object reusing a part id of the first is refused.
    let child_id = region.object(u(1)).unwrap().children()[0].id;
    let clash = SceneObject::linked(Part::new(u(77), "x"), vec![Part::new(child_id, "y")], Vector3::new(5.0, 5.0, 5.0));
    assert_eq!(region.add_object(clash), Err(SceneError::DuplicatePart(child_id)));
}

#[test]
fn q_46_create_outside_region_fails() {
    let mut region = Region::new(u(9), "Test Region");
    let params = RezParams {
        position: Vector3::new(300.0, 5.0, 5.0),
        ..RezParams::default()
    };
    let err = region.rez_object(&template(), &params, &mut counter(10)).unwrap_err();
    assert!(matches!(err, SceneError::OutsideRegion(_)));
    assert_eq!(region.object_count(), 0);
}

#[test]
fn rc_30_rc_32_delete_and_delete_all() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0)), (2, "b", Vector3::new(1.0, 1.0, 1.0))]);
    region.remove_object(u(1)).unwrap();
    assert_eq!(region.remove_object(u(1)), Err(SceneError::NoSuchObject(u(1))));
    assert_eq!(region.remove_all_objects().len(), 1);
    assert!(region.remove_all_objects().is_empty());
    assert_eq!(region.object_count(), 0);
}

#[test]
fn rc_33_message_object_queues_dataserver() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    region.message_object(u(1), CALLER, "start").unwrap();
    let ev = &region.object(u(1)).unwrap().script_events[0];
    assert_eq!(
        (ev.event.as_str(), ev.key.as_str(), ev.data.as_str()),
        ("dataserver", CALLER.to_string().as_str(), "start")
    );
    assert_eq!(region.message_object(u(5), CALLER, "x"), Err(SceneError::NoSuchObject(u(5))));
}

#[test]
fn script_event_queue_is_bounded() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    region.set_limits(SceneLimits {
        max_script_events_per_object: 2,
        ..SceneLimits::default()
    });
    for m in ["1", "2", "3"] {
        region.message_object(u(1), CALLER, m).unwrap();
    }
    let data: Vec<&str> = region.object(u(1)).unwrap().script_events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data, vec!["2", "3"]);
}

#[test]
fn rc_34_set_part_position_child_only() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    let changes = region.set_part_position(u(1), 2, Vector3::new(0.0, 0.0, 1.5)).unwrap();
    assert!(!changes.iter().any(|c| matches!(c, SceneChange::ObjectMoved { .. })));
    let obj = region.object(u(1)).unwrap();
    assert_eq!(obj.children()[0].offset_position, Vector3::new(0.0, 0.0, 1.5));
    assert_eq!(obj.position, Vector3::new(1.0, 1.0, 1.0));
}

#[test]
fn rc_35_part_selection_errors() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    assert_eq!(region.set_part_scale(u(1), 3, Vector3::ONE).unwrap_err().to_string(), "no such part");
    assert_eq!(region.set_part_scale(u(9), 0, Vector3::ONE).unwrap_err().to_string(), "no such object");
    let single = SceneObject::linked(Part::new(u(50), "s"), vec![], Vector3::new(3.0, 3.0, 3.0));
    region.add_object(single).unwrap();
    assert!(region.set_part_scale(u(50), 1, Vector3::ONE).is_err());
    assert!(region.set_part_scale(u(50), 0, Vector3::ONE).is_ok());
}

#[test]
fn rc_36_root_part_rotation_is_object_rotation() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    let q = Quaternion::new(0.0, 0.382_683_4, 0.0, 0.923_879_5);
    region.set_part_rotation(u(1), 0, q).unwrap();
    assert_eq!(region.object(u(1)).unwrap().rotation(), q);
    region.set_part_rotation(u(1), 2, Quaternion::new(1.0, 0.0, 0.0, 0.0)).unwrap();
    assert_eq!(region.object(u(1)).unwrap().children()[0].rotation_offset, Quaternion::new(1.0, 0.0, 0.0, 0.0));
    assert_eq!(region.object(u(1)).unwrap().rotation(), q);
}

#[test]
fn rc_37_scale_stored_and_invalid_refused() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    region.set_part_scale(u(1), 0, Vector3::new(2.0, 2.0, 0.1)).unwrap();
    assert_eq!(region.object(u(1)).unwrap().root().scale, Vector3::new(2.0, 2.0, 0.1));
    for bad in [Vector3::new(0.0, 1.0, 1.0), Vector3::new(-1.0, 1.0, 1.0), Vector3::new(f32::INFINITY, 1.0, 1.0)] {
        assert!(matches!(region.set_part_scale(u(1), 0, bad), Err(SceneError::InvalidScale(_))));
    }
    assert_eq!(region.object(u(1)).unwrap().root().scale, Vector3::new(2.0, 2.0, 0.1));
}

#[test]
fn rc_38_color_clamped_on_all_faces() {
    let mut region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    region.set_part_color(u(1), 0, Vector3::new(2.0, -1.0, 0.5), 3.0).unwrap();
    let te = &region.object(u(1)).unwrap().root().shape.texture_entry;
    assert_eq!(
        (te.default_color.r, te.default_color.g, te.default_color.b, te.default_color.a),
        (1.0, 0.0, 0.5, 1.0)
    );
}

#[test]
fn rc_62_rc_64_terrain_through_region() {
    let mut region = Region::new(u(9), "Test Region");
    region.set_terrain_height(128, 64, 23.5).unwrap();
    assert_eq!(region.terrain.height_or_zero(128, 64), 23.5);
    assert!(region.set_terrain_height(256, 0, 1.0).is_err());
}

#[test]
fn rc_58_rc_60_sun_through_region() {
    let mut region = Region::new(u(9), "Test Region");
    assert_eq!(
        region.apply_sun(
            SunUpdate {
                current_time_hours: 12.0,
                ..Default::default()
            },
            1_000_000
        ),
        vec![SceneChange::SunChanged]
    );
    assert!((region.sun.current_time_hours(1_000_000) - 12.0).abs() < 0.05);
}

#[test]
fn limits_objects_and_parts() {
    let limits = SceneLimits {
        max_objects_per_region: 1,
        max_parts_per_object: 1,
        ..SceneLimits::default()
    };
    let mut region = Region::with_size(u(9), "r", 256, 256, limits).unwrap();
    let single = |id| SceneObject::linked(Part::new(u(id), "s"), vec![], Vector3::new(3.0, 3.0, 3.0));
    assert!(matches!(region.add_object(template()), Err(SceneError::TooManyParts { count: 2, limit: 1 })));
    region.add_object(single(5)).unwrap();
    assert_eq!(region.add_object(single(6)), Err(SceneError::TooManyObjects { limit: 1 }));
    assert!(Region::with_size(u(9), "r", 0, 256, SceneLimits::default()).is_err());
    assert!(Region::with_size(u(9), "r", 9000, 256, SceneLimits::default()).is_err());
}

#[test]
fn limits_start_parameter_and_inventory() {
    let limits = SceneLimits {
        max_start_parameter_bytes: 4,
        max_inventory_items_per_part: 0,
        ..SceneLimits::default()
    };
    let mut region = Region::with_size(u(9), "r", 256, 256, limits).unwrap();
    let params = RezParams {
        start_parameter: "{\"toolong\":1}".into(),
        ..RezParams::default()
    };
    let single = SceneObject::linked(Part::new(u(5), "s"), vec![], Vector3::ZERO);
    assert!(matches!(
        region.rez_object(&single, &params, &mut counter(10)),
        Err(SceneError::StartParameterTooLarge { .. })
    ));
    assert!(matches!(
        region.rez_object(
            &template(),
            &RezParams {
                start_parameter: String::new(),
                ..params
            },
            &mut counter(20)
        ),
        Err(SceneError::TooManyInventoryItems { .. })
    ));
}

#[test]
fn integrate_moves_by_velocity_and_acceleration() {
    let mut region = region_with(&[(1, "a", Vector3::new(10.0, 10.0, 10.0)), (2, "still", Vector3::new(5.0, 5.0, 5.0))]);
    let upd = DynamicsUpdate {
        object_id: u(1),
        velocity: Some(Vector3::new(1.0, 0.0, 0.0)),
        acceleration: Some(Vector3::new(0.0, 0.0, 2.0)),
        ..Default::default()
    };
    region.apply_dynamics(&upd).unwrap();
    let changes = region.integrate(1.0);
    let moved: Vec<Uuid> = changes
        .iter()
        .filter_map(|c| match c {
            SceneChange::ObjectMoved { object_id, .. } => Some(*object_id),
            _ => None,
        })
        .collect();
    assert_eq!(moved, vec![u(1)]);
    let obj = region.object(u(1)).unwrap();
    assert_eq!(obj.position, Vector3::new(11.0, 10.0, 11.0));
    assert_eq!(obj.velocity(), Vector3::new(1.0, 0.0, 2.0));
    assert!(region.integrate(f32::NAN).is_empty());
    assert!(region.integrate(-1.0).is_empty());
}

#[test]
fn integrate_stops_at_region_edge() {
    let mut region = region_with(&[(1, "a", Vector3::new(255.5, 10.0, 10.0))]);
    region
        .apply_dynamics(&DynamicsUpdate {
            object_id: u(1),
            velocity: Some(Vector3::new(1.0, 0.0, 0.0)),
            ..Default::default()
        })
        .unwrap();
    let changes = region.integrate(1.0);
    assert_eq!(changes, vec![SceneChange::ObjectMotionChanged { object_id: u(1) }]);
    let obj = region.object(u(1)).unwrap();
    assert_eq!(obj.position, Vector3::new(255.5, 10.0, 10.0));
    assert!(!obj.is_moving());
}

#[test]
fn region_serde_round_trip() {
    let region = region_with(&[(1, "a", Vector3::new(1.0, 1.0, 1.0))]);
    let json = serde_json::to_string(&region).unwrap();
    let back: Region = serde_json::from_str(&json).unwrap();
    assert_eq!(back, region);
}

#[test]
fn script_items_go_into_the_root_inventory_and_leave_by_asset() {
    let mut region = region_with(&[(100, "a", Vector3::new(10.0, 10.0, 20.0))]);
    let item = TaskInventoryItem::new(u(30), "counter", AssetType::WasmComponent, u(40));
    region.add_root_item(u(100), item).unwrap();
    let root = region.object(u(100)).unwrap().root();
    let added = root.inventory.last().unwrap();
    assert_eq!((added.name.as_str(), added.asset_id, added.parent_part_id), ("counter", u(40), root.id));
    assert_eq!(root.inventory.len(), 2);
    // Two items share the asset: each leaves by its own id.
    region
        .add_root_item(u(100), TaskInventoryItem::new(u(32), "counter 2", AssetType::WasmComponent, u(40)))
        .unwrap();
    assert_eq!(region.remove_root_items(u(100), u(32), u(40)).unwrap(), 1);
    assert_eq!(region.object(u(100)).unwrap().root().inventory.len(), 2);
    // An unknown item id falls back to the asset (items listed before).
    assert_eq!(region.remove_root_items(u(100), u(99), u(40)).unwrap(), 1);
    assert_eq!(region.remove_root_items(u(100), u(30), u(40)).unwrap(), 0);
    assert_eq!(region.object(u(100)).unwrap().root().inventory.len(), 1);
    assert!(matches!(
        region.add_root_item(u(999), TaskInventoryItem::new(u(31), "x", AssetType::WasmComponent, u(41))),
        Err(SceneError::NoSuchObject(_))
    ));
}
